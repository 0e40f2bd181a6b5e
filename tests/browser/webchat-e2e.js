// The web chat in Chromium, driven by tests/integration/webchat.sh, which
// starts PostgreSQL, the daemon, the bridge and a member's page on loopback
// and hands their addresses over in the environment.  Prints "ok - ..." and
// "not ok - ..." lines (the shell numbers them) and "# ..." remarks.
'use strict';
const puppeteer = require('puppeteer-core');
const https = require('https');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const E = process.env;
const PAGE = E.WC_PAGE;      // the member's page
const BRIDGE = E.WC_BRIDGE;  // the bridge's origin
const API = E.WC_API;        // the daemon's agents' API
const CA = fs.readFileSync(E.WC_CA);
const ART = E.WC_ARTEFACTS;
// Evaluated over the DevTools protocol: the page's CSP stays on and strict.
const AXE = fs.readFileSync(require.resolve('axe-core'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
let failures = 0;

function ok(cond, what, detail) {
	console.log(`${cond ? 'ok' : 'not ok'} - ${what}`);
	if (!cond) {
		failures++;
		if (detail !== undefined) console.log(`#   ${String(detail).split('\n').join('\n#   ')}`);
	}
}
const note = (s) => console.log(`# ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function sql(q) {
	return execFileSync(E.WC_PSQL, ['-X', '-q', '-At', '-d', 'seutudesk', '-c', q], { encoding: 'utf8' }).trim();
}
async function until(what, f, ms = 10000) {
	const end = Date.now() + ms;
	let v;
	while (Date.now() < end) {
		v = await f();
		if (v) return v;
		await sleep(100);
	}
	return v;
}
function agent(method, p, body) {
	return new Promise((resolve, reject) => {
		const data = body ? JSON.stringify(body) : null;
		const req = https.request(API + p, {
			method, ca: CA, headers: Object.assign({ Authorization: 'Bearer ' + E.WC_AGENT_TOKEN },
				data ? { 'Content-Type': 'application/json' } : {}),
		}, (res) => {
			let b = '';
			res.on('data', (c) => (b += c));
			res.on('end', () => resolve({ status: res.statusCode, body: b }));
		});
		req.on('error', reject);
		req.setTimeout(10000, () => req.destroy(new Error('timeout')));
		if (data) req.write(data);
		req.end();
	});
}
async function axe(page, what) {
	if (!(await page.evaluate(() => typeof axe !== 'undefined'))) await page.evaluate(AXE);
	const r = await page.evaluate((tags) => axe.run(document, { runOnly: { type: 'tag', values: tags },
		resultTypes: ['violations'] }), TAGS);
	ok(r.violations.length === 0, `axe-core: no WCAG 2.1 AA violation (${what})`,
		r.violations.map((v) => `${v.id} ${v.impact}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n'));
}
async function shot(page, name, w, h) {
	await page.setViewport({ width: w, height: h });
	await sleep(300);
	const f = path.join(ART, `${name}-${w}x${h}.png`);
	await page.screenshot({ path: f });
	note(`screenshot ${f}`);
}
// An error of the page or the widget; not one of axe-core's, which the
// test evaluates in the page (it tries an inline style, which the CSP refuses).
const pageError = (m) => m.type() === 'error' && !/^pptr:/.test((m.location() || {}).url || '');
const logText = (page) => page.$eval('.sdc-log', (e) => e.textContent);
const convOf = (secret) => 'wc-' + crypto.createHash('sha256').update(secret).digest('hex');

async function openChat(page) {
	await page.goto(PAGE, { waitUntil: 'load' });
	await page.waitForSelector('.sdc-opener', { timeout: 10000 });
	await page.focus('.sdc-opener');
	await page.keyboard.press('Enter');
	await page.waitForSelector('.sdc-panel:not([hidden])', { timeout: 5000 });
}

async function closedHours(browser) {
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	const errors = [];
	page.on('console', (m) => pageError(m) && errors.push(m.text()));
	await page.setViewport({ width: 1280, height: 800 });
	await openChat(page);
	const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
	ok(focused === 'sdc-name', 'keyboard: Enter on the button opens the chat, focus in its first field', focused);
	const closed = await until('closed', () => page.$('.sdc-panel.sdc-closed'), 5000);
	ok(!!closed, 'no agent online: the widget says the support is closed');
	const status = await page.$eval('.sdc-status', (e) => e.textContent);
	ok(/Vastaamme viimeistään .*\d/.test(status), 'it tells when the question will be answered, in Finnish', status);
	note(`closed status: ${status}`);
	const req = await page.$eval('#sdc-email', (e) => e.getAttribute('aria-required'));
	ok(req === 'true', 'it asks for an e-mail address (required while closed)');
	await page.type('#sdc-name', 'Kalle Kinnunen');
	await page.type('#sdc-text', 'Kinnulan kirjaston tulostin ei tulosta. Voisitteko katsoa?');
	await page.click('.sdc-send');
	const err = await page.$eval('#sdc-email-err', (e) => (e.hidden ? '' : e.textContent));
	const errFocus = await page.evaluate(() => document.activeElement.id);
	ok(/sähköpostiosoitteesi/.test(err) && errFocus === 'sdc-email',
		'without an e-mail: the error is next to the field, which gets the focus', `${err} / ${errFocus}`);
	await axe(page, 'closed, with an error shown');
	await shot(page, 'closed-error', 1280, 800);
	await page.type('#sdc-email', 'kalle.kinnunen@example.fi');
	await page.setViewport({ width: 1280, height: 800 });
	await page.click('.sdc-send');
	const thanks = await until('thanks', () => page.$eval('.sdc-form .sdc-note', (e) => e.textContent), 10000);
	ok(/Kiitos! .*Vastaamme viimeistään/.test(thanks), 'after sending, it says when the answer comes', thanks);
	await axe(page, 'closed, question sent');
	await shot(page, 'closed', 1280, 800);
	await shot(page, 'closed', 360, 640);
	const secret = await page.evaluate(() => JSON.parse(localStorage.getItem('seutudesk-chat:kinnula')).secret);
	const row = await until('row', () => sql(`SELECT c.email || ' ' || (c.resume_url LIKE '%#seutudesk-chat=' || '${secret}')
		FROM chat_conversations c WHERE c.bridge = 'webchat' AND c.id = '${convOf(secret)}'`));
	ok(row === 'kalle.kinnunen@example.fi true', 'the daemon has the e-mail and the resume link of the conversation', row);
	ok(errors.length === 0, 'no errors in the console (closed hours)', errors.join('\n'));
	await ctx.close();
}

async function openHours(browser) {
	const me = await agent('GET', '/api/v1/me');
	ok(me.status === 200, 'an agent comes online (a call to the agents\' API)');
	const ctx = await browser.createBrowserContext();
	const page = await ctx.newPage();
	const errors = [];
	page.on('console', (m) => pageError(m) && errors.push(m.text()));
	page.on('pageerror', (e) => errors.push(String(e)));
	await page.setViewport({ width: 1280, height: 800 });
	await openChat(page);
	const status = await until('open', () => page.$eval('.sdc-status', (e) => e.textContent), 5000);
	ok(/paikalla/.test(status) && !(await page.$('.sdc-panel.sdc-closed')), 'an agent online: the widget says so', status);
	await page.type('#sdc-name', 'Maija Meikäläinen');
	const question = 'Hei! Kirjaston asiakaskoneeseen ei pääse kirjautumaan. Mitä teen?';
	await page.type('#sdc-text', question);
	await page.keyboard.press('Tab');
	await page.keyboard.press('Enter'); // the send button, by keyboard
	const sent = await until('sent', () => page.evaluate(() => {
		const m = document.querySelector('.sdc-msg.sdc-mine');
		return m && !/lähetetään/.test(m.textContent) && m.textContent;
	}), 10000);
	ok(!!sent, 'the question is sent and shown as the visitor\'s', sent);
	const secret = await page.evaluate(() => JSON.parse(localStorage.getItem('seutudesk-chat:kinnula')).secret);
	const conv = convOf(secret);
	const t = await until('ticket', () => sql(`SELECT t.number || ' ' || coalesce(t.municipality, '-') || ' ' || t.channel
		FROM tickets t JOIN messages m ON m.ticket = t.number
		WHERE m.bridge = 'webchat' AND m.conversation = '${conv}' LIMIT 1`), 10000);
	const [ticket, muni, channel] = (t || '- - -').split(' ');
	ok(muni === 'kinnula', `the ticket (#${ticket}) is classified to kinnula`, t);
	ok(channel === 'chat', 'the ticket came by chat', t);
	const n0 = sql(`SELECT count(*) FROM messages WHERE conversation = '${conv}'`);
	ok(n0 === '1', 'the conversation has one message in the database', n0);

	// The agent answers; the page shows it live.
	const answer = 'Hei Maija! Käynnistä kone uudelleen ja kirjaudu kirjastokortin numerolla.';
	const t0 = Date.now();
	const watch = page.waitForFunction((a) => document.querySelector('.sdc-log').textContent.includes(a),
		{ polling: 'mutation', timeout: 10000 }, answer).then(() => Date.now() - t0, () => -1);
	const rep = await agent('POST', `/api/v1/tickets/${ticket}/reply`, { body: answer });
	ok(rep.status === 200 || rep.status === 201, 'the agent replies through the agents\' API', `${rep.status} ${rep.body}`);
	const ms = await watch;
	note(`agent's reply to the visitor's page: ${ms} ms`);
	console.log(`# LATENCY_MS ${ms}`);
	ok(ms >= 0 && ms < 1000, `the answer shows in the page within a second (${ms} ms)`);
	const states = await until('read', () => {
		const s = sql(`SELECT string_agg(state, ',') FROM chat_replies WHERE conversation = '${conv}'`);
		return s === 'read' && s;
	}, 5000);
	ok(states === 'read', 'the page reports the reply read (it was shown while visible)', states);
	const ev = sql(`SELECT string_agg(DISTINCT kind, ',' ORDER BY kind) FROM events WHERE ticket = ${ticket} AND kind LIKE 'chat_%'`);
	ok(/chat_delivered/.test(ev) && /chat_read/.test(ev), 'the agent sees it delivered and read', ev);

	// A browser retry: the same message id twice makes one message.
	const codes = await page.evaluate(async (b, s) => {
		const body = JSON.stringify({ secret: s, id: 'retry-1', name: 'Maija Meikäläinen', text: 'Kiitos, kokeilen.',
			site: 'kinnula', lang: 'fi' });
		const o = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body };
		const r1 = await fetch(b + '/chat/v1/messages', o);
		const r2 = await fetch(b + '/chat/v1/messages', o);
		return [r1.status, r2.status, (await r2.json()).duplicate];
	}, BRIDGE, secret);
	ok(codes[0] === 201 && codes[1] === 200 && codes[2] === true, 'the same post retried: 201, then 200 duplicate', codes);
	const n1 = sql(`SELECT count(*) FROM messages WHERE conversation = '${conv}' AND body LIKE 'Kiitos, kokeilen.%'`);
	ok(n1 === '1', 'and one message in the database', n1);
	const typ = await page.evaluate(async (b, s) => (await fetch(b + '/chat/v1/typing',
		{ method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ secret: s }) })).status,
	BRIDGE, secret);
	ok(typ === 204, 'typing is passed on (204)');

	// Reload: the conversation is still there, each message once.
	await page.reload({ waitUntil: 'load' });
	await page.waitForSelector('.sdc-opener');
	const back = await until('back', async () => {
		const x = await page.evaluate(() => [...document.querySelectorAll('.sdc-msg .sdc-text')].map((e) => e.textContent));
		return x.length >= 3 && x;
	}, 5000);
	ok(back && back.filter((x) => x === answer).length === 1 && back.filter((x) => x === question).length === 1
		&& back.length === 3, 'after a reload the conversation is there, each message once', JSON.stringify(back));
	await page.click('.sdc-opener');
	await page.waitForSelector('.sdc-panel:not([hidden])');
	const f2 = await page.evaluate(() => document.activeElement.id);
	ok(f2 === 'sdc-text', 'a returning visitor goes straight to the message field', f2);
	await axe(page, 'open, with a conversation');
	await shot(page, 'open', 1280, 800);
	await shot(page, 'open', 360, 640);

	// 400 % zoom of a 1280 px window: 320 CSS px wide, no sideways scrolling.
	await page.setViewport({ width: 320, height: 256 });
	await sleep(200);
	const reflow = await page.evaluate(() => {
		const p = document.querySelector('.sdc-panel');
		return [document.documentElement.scrollWidth, p.getBoundingClientRect().width, p.scrollWidth - p.clientWidth];
	});
	ok(reflow[0] <= 320 && reflow[1] <= 320 && reflow[2] <= 0, 'reflow at 320 CSS px (400 % zoom): nothing scrolls sideways', reflow);
	await shot(page, 'zoom400', 320, 256);
	await page.setViewport({ width: 1280, height: 800 });
	await page.focus('#sdc-text');
	await page.keyboard.press('Escape');
	const f3 = await page.evaluate(() => [document.querySelector('.sdc-panel').hidden, document.activeElement.className]);
	ok(f3[0] === true && f3[1] === 'sdc-opener', 'Escape closes the chat and the focus returns to its button', f3);
	const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
	ok(outline === 'solid', 'the focus is visible (an outline)', outline);

	// The resume link opens the conversation in another browser.
	const link = await page.$eval('.sdc-resume', (a) => a.href);
	ok(link.includes('#seutudesk-chat=' + secret), 'the widget offers a resume link', link);
	const ctx2 = await browser.createBrowserContext();
	const p2 = await ctx2.newPage();
	await p2.setViewport({ width: 1280, height: 800 });
	await p2.goto(link, { waitUntil: 'load' });
	const shown = await until('resume', async () => (await p2.$('.sdc-log')) && (await logText(p2)).includes(answer), 8000);
	ok(!!shown, 'the resume link shows the conversation in another browser');
	const hash = await p2.evaluate(() => location.hash);
	ok(hash === '', 'the secret is taken out of the address bar', hash);

	// The transcript by e-mail.
	await p2.click('.sdc-summary');
	await p2.type('#sdc-tr', 'maija.transcript@example.fi');
	await p2.click('.sdc-transcript button');
	const tr = await until('transcript', () => p2.$eval('.sdc-transcript .sdc-note', (e) => e.textContent), 8000);
	ok(/lähetetään osoitteeseen maija.transcript@example.fi/.test(tr), 'the transcript is sent by e-mail on request', tr);
	ok(errors.length === 0, 'no errors in the console (open hours)', errors.join('\n'));
	await ctx2.close();
	await ctx.close();
}

(async () => {
	fs.mkdirSync(ART, { recursive: true });
	const home = fs.mkdtempSync(path.join(E.WC_TMP, 'chromium-'));
	const browser = await puppeteer.launch({ executablePath: E.WC_CHROMIUM || '/usr/bin/chromium', headless: true,
		args: ['--no-sandbox', '--hide-scrollbars'], userDataDir: home,
		env: Object.assign({}, process.env, { HOME: home }) });
	try {
		await closedHours(browser);
		await openHours(browser);
	} catch (e) {
		ok(false, 'the browser run ended by an exception', e.stack);
	} finally {
		await browser.close();
	}
	process.exitCode = failures ? 1 : 0;
})();
