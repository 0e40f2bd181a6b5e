/* seutudesk web chat widget.  A member's page embeds it with one tag:
 *   <script src="https://chat.example.fi/widget.js" data-municipality="kinnula"
 *           data-lang="fi" defer></script>
 * Plain JavaScript, no inline script or style, no eval: it works under a
 * strict Content-Security-Policy.  Everything from the network goes into
 * the page as text (textContent), never as markup. */
(function () {
	'use strict';
	var script = document.currentScript;
	if (!script || window.seutudeskChat) return;
	window.seutudeskChat = true;

	var base = script.src.replace(/widget\.js(\?.*)?$/, '');
	var site = script.getAttribute('data-municipality') || '';
	var lang = (script.getAttribute('data-lang') || document.documentElement.lang || 'fi')
		.toLowerCase().slice(0, 2);
	if (['fi', 'sv', 'en'].indexOf(lang) < 0) lang = 'fi';
	var KEY = 'seutudesk-chat:' + site;
	var T = {};
	var st = load();
	var status = null;  /* the last /status answer */
	var ui = {};
	var es = null;      /* the answer stream */
	var shown = {};     /* message keys in the log: each shows once */
	var unread = [];    /* replies shown while the page was hidden or the chat closed */
	var lastTyping = 0;

	function load() {
		try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
	}
	function save() {
		try { localStorage.setItem(KEY, JSON.stringify(st)); } catch (e) { /* private mode */ }
	}
	function fmt(s, v) {
		return s.replace(/\{(\w+)\}/g, function (m, k) { return v[k] !== undefined ? v[k] : m; });
	}
	function rid() {
		var a = new Uint8Array(16);
		crypto.getRandomValues(a);
		return Array.prototype.map.call(a, function (b) { return (b + 256).toString(16).slice(1); }).join('');
	}
	function el(tag, attrs, text) {
		var e = document.createElement(tag);
		for (var k in attrs) if (attrs[k] !== null) e.setAttribute(k, attrs[k]);
		if (text) e.textContent = text;
		for (var i = 3; i < arguments.length; i++) if (arguments[i]) e.appendChild(arguments[i]);
		return e;
	}
	function when(iso, long) {
		var d = new Date(iso);
		if (isNaN(d)) return '';
		var o = long ? { weekday: 'long', day: 'numeric', month: 'numeric', hour: '2-digit', minute: '2-digit' }
			: { hour: '2-digit', minute: '2-digit' };
		o.timeZone = 'Europe/Helsinki';
		try { return new Intl.DateTimeFormat(T.locale, o).format(d); } catch (e) { return d.toLocaleString(); }
	}

	/* The visitor API: resolves {status, body, retry}; status 0 when no answer came. */
	function api(method, path, body) {
		var o = { method: method, mode: 'cors', credentials: 'omit' };
		if (body) { o.headers = { 'Content-Type': 'application/json' }; o.body = JSON.stringify(body); }
		return fetch(base + 'chat/v1/' + path, o).then(function (r) {
			return r.json().catch(function () { return {}; }).then(function (j) {
				return { status: r.status, body: j, retry: +r.headers.get('Retry-After') || 0 };
			});
		}, function () { return { status: 0, body: {}, retry: 0 }; });
	}

	function resumeUrl() {
		var u = location.href.replace(/#.*$/, '') + '#seutudesk-chat=' + st.secret;
		return /^https?:/.test(u) && u.length <= 500 ? u : null;
	}

	/* ---- The page ----------------------------------------------------- */

	function field(id, label, input, hint) {
		var err = el('p', { id: id + '-err', 'class': 'sdc-err', hidden: '' });
		input.id = id;
		input.setAttribute('aria-describedby', (hint ? id + '-hint ' : '') + id + '-err');
		return el('div', { 'class': 'sdc-field' }, null,
			el('label', { 'for': id }, label),
			hint ? el('p', { id: id + '-hint', 'class': 'sdc-hint' }, hint) : null,
			err, input);
	}

	function build() {
		ui.opener = el('button', { type: 'button', 'class': 'sdc-opener', 'aria-expanded': 'false',
			'aria-controls': 'sdc-panel' }, T.opener);
		ui.close = el('button', { type: 'button', 'class': 'sdc-close' }, T.close);
		ui.status = el('p', { 'class': 'sdc-status', id: 'sdc-status' });
		ui.log = el('div', { 'class': 'sdc-log', role: 'log', 'aria-live': 'polite',
			'aria-label': T.log, tabindex: '0' });
		ui.empty = el('p', { 'class': 'sdc-empty' }, T.log_empty);
		ui.log.appendChild(ui.empty);
		ui.name = el('input', { type: 'text', autocomplete: 'name', maxlength: '200', 'aria-required': 'true' });
		ui.email = el('input', { type: 'email', autocomplete: 'email', maxlength: '254' });
		ui.emailLabel = el('span', {}, T.email);
		ui.text = el('textarea', { rows: '3', maxlength: '16000', 'aria-required': 'true' });
		ui.textLabel = el('span', {}, T.question);
		ui.who = el('div', { 'class': 'sdc-who' }, null,
			field('sdc-name', T.name, ui.name),
			field('sdc-email', '', ui.email, T.email_hint));
		ui.who.querySelector('label[for="sdc-email"]').appendChild(ui.emailLabel);
		var tf = field('sdc-text', '', ui.text);
		tf.querySelector('label').appendChild(ui.textLabel);
		ui.note = el('p', { 'class': 'sdc-note', role: 'status' });
		ui.form = el('form', { 'class': 'sdc-form', novalidate: '' }, null, ui.who, tf,
			el('button', { type: 'submit', 'class': 'sdc-send' }, T.send), ui.note);
		ui.trEmail = el('input', { type: 'email', autocomplete: 'email', maxlength: '254' });
		ui.trNote = el('p', { 'class': 'sdc-note', role: 'status' });
		ui.trForm = el('form', { 'class': 'sdc-transcript', novalidate: '' }, null,
			field('sdc-tr', T.transcript_email, ui.trEmail),
			el('button', { type: 'submit', 'class': 'sdc-secondary' }, T.transcript_send), ui.trNote);
		ui.resume = el('a', { 'class': 'sdc-resume', href: '#' }, T.resume_link);
		ui.restart = el('button', { type: 'button', 'class': 'sdc-secondary' }, T['new']);
		ui.more = el('details', { 'class': 'sdc-more', hidden: '' }, null,
			el('summary', { 'class': 'sdc-summary' }, T.more), ui.trForm, el('p', {}, null, ui.resume), ui.restart);
		ui.panel = el('section', { id: 'sdc-panel', 'class': 'sdc-panel', role: 'dialog',
			'aria-labelledby': 'sdc-title', 'aria-describedby': 'sdc-status', hidden: '' }, null,
			el('div', { 'class': 'sdc-head' }, null, el('h2', { id: 'sdc-title', 'class': 'sdc-title' }, T.title), ui.close),
			ui.status, ui.log, ui.form, ui.more);
		var root = el('div', { 'class': 'sdc', lang: lang }, null, ui.opener, ui.panel);
		document.body.appendChild(root);

		ui.opener.addEventListener('click', function () { ui.panel.hidden ? open() : close(); });
		ui.close.addEventListener('click', close);
		ui.panel.addEventListener('keydown', function (e) { if (e.key === 'Escape') { e.preventDefault(); close(); } });
		ui.form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
		ui.trForm.addEventListener('submit', function (e) { e.preventDefault(); transcript(); });
		ui.text.addEventListener('input', typing);
		ui.restart.addEventListener('click', restart);
		document.addEventListener('visibilitychange', flushRead);
		refreshForm();
	}

	function open() {
		ui.panel.hidden = false;
		ui.opener.setAttribute('aria-expanded', 'true');
		ui.opener.textContent = T.opener;
		checkStatus();
		(ui.who.hidden ? ui.text : ui.name).focus();
		ui.log.scrollTop = ui.log.scrollHeight;
		flushRead();
	}
	function close() {
		ui.panel.hidden = true;
		ui.opener.setAttribute('aria-expanded', 'false');
		ui.opener.focus();
	}

	function refreshForm() {
		var closed = status && !status.open;
		ui.who.hidden = !!st.named;
		ui.emailLabel.textContent = closed ? T.email_required : T.email;
		ui.email.setAttribute('aria-required', closed ? 'true' : 'false');
		ui.textLabel.textContent = st.secret && st.named ? T.message : T.question;
		ui.more.hidden = !st.secret;
		if (st.secret) ui.resume.href = resumeUrl() || '#';
		if (st.email && !ui.trEmail.value) ui.trEmail.value = st.email;
	}

	function dueText() {
		return status && status.first_response_due ? when(status.first_response_due, true) : '';
	}
	function checkStatus() {
		api('GET', 'status?site=' + encodeURIComponent(site)).then(function (r) {
			if (r.status !== 200) return;
			status = r.body;
			var due = dueText();
			ui.status.textContent = status.open ? T.status_open
				: fmt(due ? T.status_closed : T.status_closed_nodue, { due: due });
			ui.panel.classList.toggle('sdc-closed', !status.open);
			refreshForm();
		});
	}

	function showError(input, text) {
		var e = document.getElementById(input.id + '-err');
		e.textContent = text || '';
		e.hidden = !text;
		if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
		return !text;
	}

	/* ---- The log ------------------------------------------------------- */

	function addMessage(key, mine, author, text, at) {
		if (shown[key]) return shown[key];
		if (ui.empty.parentNode) ui.log.removeChild(ui.empty);
		var state = el('span', { 'class': 'sdc-state' });
		var item = el('div', { 'class': 'sdc-msg ' + (mine ? 'sdc-mine' : 'sdc-theirs') }, null,
			el('p', { 'class': 'sdc-meta' }, null,
				el('span', { 'class': 'sdc-who-said' }, mine ? T.you : (author || T.agent)),
				document.createTextNode(' '), el('span', {}, at ? when(at) : ''),
				document.createTextNode(' '), state),
			el('p', { 'class': 'sdc-text' }, text));
		item.sdcState = state;
		item.sdcText = text;
		ui.log.appendChild(item);
		ui.log.scrollTop = ui.log.scrollHeight;
		shown[key] = item;
		return item;
	}

	/* A message from the stream: the transcript's or a new reply. */
	function received(m) {
		var key = m.reply ? 'r' + m.reply : m.id;
		if (shown[key]) return;
		if (m.direction === 'in') {
			/* One the visitor wrote here is already shown: give it its server key. */
			for (var k in shown) {
				if (k.charAt(0) === 'l' && !shown[k].sdcMatched && shown[k].sdcText === m.text) {
					shown[k].sdcMatched = true;
					shown[key] = shown[k];
					return;
				}
			}
		}
		addMessage(key, m.direction === 'in', m.author, m.text, m.at);
		if (m.reply) {
			unread.push(m.reply);
			flushRead();
		}
	}

	function flushRead() {
		if (!unread.length || !st.secret) return;
		if (document.visibilityState !== 'visible' || ui.panel.hidden) {
			ui.opener.textContent = T.opener_new;
			return;
		}
		var done = st.read || [];
		unread.splice(0).forEach(function (id) {
			if (done.indexOf(id) >= 0) return;
			done.push(id);
			api('POST', 'read', { secret: st.secret, reply: id });
		});
		st.read = done.slice(-50);
		save();
	}

	function connect() {
		if (es || !st.secret || typeof EventSource === 'undefined') return;
		es = new EventSource(base + 'chat/v1/stream?secret=' + encodeURIComponent(st.secret));
		es.addEventListener('transcript', function (e) {
			ui.note.textContent === T.reconnecting && (ui.note.textContent = '');
			try { (JSON.parse(e.data).messages || []).forEach(received); } catch (x) { /* ignore */ }
		});
		es.addEventListener('reply', function (e) {
			try { received(JSON.parse(e.data)); } catch (x) { /* ignore */ }
		});
		es.addEventListener('error', function () {
			if (es.readyState === 2) { /* refused: try again later ourselves */
				es = null;
				setTimeout(connect, 5000);
			}
		});
	}

	/* ---- Sending ------------------------------------------------------- */

	function validate() {
		var ok = true, closed = status && !status.open;
		if (!st.named) {
			ok = showError(ui.name, ui.name.value.trim() ? '' : T.err_name) && ok;
			var em = ui.email.value.trim();
			ok = showError(ui.email, em && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(em) ? T.err_email
				: (!em && closed ? T.err_email_required : '')) && ok;
		}
		ok = showError(ui.text, ui.text.value.trim() ? '' : T.err_text) && ok;
		if (!ok) {
			var bad = ui.panel.querySelector('[aria-invalid="true"]');
			if (bad) bad.focus();
		}
		return ok;
	}

	function submit() {
		if (!validate()) return;
		if (!st.named) {
			st.name = ui.name.value.trim();
			st.email = ui.email.value.trim() || null;
		}
		var m = { id: rid(), text: ui.text.value.trim() };
		ui.text.value = '';
		var item = addMessage('l' + m.id, true, null, m.text, new Date().toISOString());
		item.sdcState.textContent = '(' + T.sending + ')';
		var go = st.secret ? Promise.resolve() : api('POST', 'conversations', {}).then(function (r) {
			if (r.status !== 201) throw r;
			st.secret = r.body.secret;
			save();
		});
		go.then(function () { post(m, item, 0); }, function (r) { failed(item, r, m, 0); });
	}

	function post(m, item, attempt) {
		api('POST', 'messages', { secret: st.secret, id: m.id, name: st.name, email: st.email,
			text: m.text, site: site, lang: lang, resume_url: resumeUrl() }).then(function (r) {
			if (r.status === 200 || r.status === 201) {
				item.sdcState.textContent = '';
				ui.note.textContent = '';
				st.named = true;
				save();
				refreshForm();
				if (ui.who.contains(document.activeElement) || !document.activeElement ||
					document.activeElement === document.body) ui.text.focus();
				if (status && !status.open) {
					var due = dueText();
					ui.note.textContent = fmt(due ? T.sent_closed : T.sent_closed_nodue, { due: due });
				}
				connect();
			} else {
				failed(item, r, m, attempt);
			}
		});
	}

	/* Network trouble and 429/503 are retried with the same id: the bridge
	 * and the daemon store a message once however often it comes. */
	function failed(item, r, m, attempt) {
		if ((r.status === 0 || r.status === 429 || r.status >= 500) && attempt < 6 && st.secret) {
			ui.note.textContent = T.err_retry;
			setTimeout(function () { post(m, item, attempt + 1); },
				1000 * Math.max(r.retry || 0, Math.pow(2, attempt)));
			return;
		}
		item.sdcState.textContent = '(' + T.not_sent + ')';
		var f = r.body && r.body.field;
		var input = f === 'name' ? ui.name : f === 'email' ? ui.email : f === 'text' ? ui.text : null;
		if (input && (f !== 'text' || r.status === 413)) {
			if (f !== 'text') { st.named = false; refreshForm(); }
			if (f === 'text') ui.text.value = m.text;
			showError(input, f === 'text' ? T.err_long : f === 'email' ? T.err_email : T.err_name);
			input.focus();
		} else {
			ui.note.textContent = T.err_failed;
		}
	}

	function typing() {
		var now = Date.now();
		if (!st.secret || !st.named || now - lastTyping < 4000) return;
		lastTyping = now;
		api('POST', 'typing', { secret: st.secret });
	}

	function transcript() {
		var em = ui.trEmail.value.trim();
		if (!showError(ui.trEmail, /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(em) ? '' : T.err_email)) {
			ui.trEmail.focus();
			return;
		}
		api('POST', 'transcript', { secret: st.secret, email: em, lang: lang }).then(function (r) {
			ui.trNote.textContent = r.status === 202 ? fmt(T.transcript_done, { email: em }) : T.transcript_failed;
		});
	}

	function restart() {
		if (es) es.close();
		es = null;
		st = { name: st.name, email: st.email };
		save();
		shown = {};
		while (ui.log.firstChild) ui.log.removeChild(ui.log.firstChild);
		ui.log.appendChild(ui.empty);
		ui.note.textContent = '';
		ui.trNote.textContent = '';
		refreshForm();
		ui.name.value = st.name || '';
		ui.email.value = st.email || '';
		ui.name.focus();
	}

	function start() {
		var m = /(?:^#|&)seutudesk-chat=([A-Za-z0-9_-]{32})/.exec(location.hash);
		if (m) {
			/* A resume link: this browser takes the conversation over. */
			if (st.secret !== m[1]) st = { secret: m[1], named: !!st.name, name: st.name, email: st.email };
			save();
			history.replaceState(null, '', location.href.replace(/#.*$/, ''));
		}
		var link = el('link', { rel: 'stylesheet', href: base + 'widget.css' });
		document.head.appendChild(link);
		fetch(base + 'texts/' + lang + '.json', { mode: 'cors', credentials: 'omit' })
			.then(function (r) { return r.json(); })
			.then(function (t) {
				T = t;
				build();
				if (st.name) ui.name.value = st.name;
				if (st.email) ui.email.value = st.email;
				connect();
				if (m) open();
			});
	}

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
	else start();
})();
