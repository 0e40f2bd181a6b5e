// Load client of bench-webchat.sh (node, no packages): WC_CONV visitors at
// once, each with its answer stream open, post WC_MSG messages in all
// through the web chat bridge (one at a time per visitor, retried with the
// same id on 429/503/no answer); an agent's event stream (GET /api/v1/events)
// times each message from the visitor's post to its event; the agent replies
// once in every conversation and each reply is timed to the visitor's stream.
// WC_RATE > 0: paced, the visitors together write WC_RATE messages a second
// (each every WC_CONV / WC_RATE seconds, at a random phase) while the agent
// replies at WC_REPLY_RATE a second; WC_RATE = 0: saturated, each visitor
// posts as soon as its last post was answered, and the replies follow, 16 at
// a time.  WC_TAG marks the run's messages.  Prints the figures; the shell
// counts the database.
'use strict';
const http = require('http');
const https = require('https');
const fs = require('fs');
const crypto = require('crypto');

const E = process.env;
const BRIDGE = new URL(E.WC_BRIDGE);
const ORIGIN = E.WC_ORIGIN;
const API = new URL(E.WC_API);
const CA = fs.readFileSync(E.WC_CA);
const NCONV = +E.WC_CONV || 500;
const NMSG = +E.WC_MSG || 10000;
const RATE = +E.WC_RATE || 0;
const REPLY_RATE = +E.WC_REPLY_RATE || 20;
const TAG = E.WC_TAG || 'run';
const { execFile } = require('child_process');
const agentHttp = new http.Agent({ keepAlive: true, maxSockets: 256 });
const agentHttps = new https.Agent({ keepAlive: true, maxSockets: 16, ca: CA });
const now = () => Number(process.hrtime.bigint() / 1000n) / 1000; // ms
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(mod, url, opts, body) {
	return new Promise((resolve) => {
		const req = mod.request(url, opts, (res) => {
			let b = '';
			res.on('data', (c) => (b += c));
			res.on('end', () => resolve({ status: res.statusCode, body: b, retry: +res.headers['retry-after'] || 0 }));
		});
		req.on('error', () => resolve({ status: 0, body: '', retry: 1 }));
		req.setTimeout(30000, () => req.destroy());
		if (body) req.write(body);
		req.end();
	});
}
function visitor(method, path, obj) {
	const body = obj ? JSON.stringify(obj) : null;
	return request(http, new URL('/chat/v1/' + path, BRIDGE), { method, agent: agentHttp,
		headers: Object.assign({ Origin: ORIGIN }, body ? { 'Content-Type': 'application/json' } : {}) }, body);
}
function agentCall(method, path, obj) {
	const body = obj ? JSON.stringify(obj) : null;
	return request(https, new URL(path, API), { method, agent: agentHttps,
		headers: Object.assign({ Authorization: 'Bearer ' + E.WC_AGENT_TOKEN },
			body ? { 'Content-Type': 'application/json' } : {}) }, body);
}
// An SSE stream: calls onEvent(name, data, arrivalMs) per event.
function sse(mod, url, opts, onEvent) {
	return new Promise((resolve, reject) => {
		const req = mod.request(url, opts, (res) => {
			if (res.statusCode !== 200) return reject(new Error('stream ' + res.statusCode));
			let buf = '';
			res.setEncoding('utf8');
			res.on('data', (c) => {
				const t = now();
				buf += c;
				let i;
				while ((i = buf.indexOf('\n\n')) >= 0) {
					const block = buf.slice(0, i);
					buf = buf.slice(i + 2);
					let name = 'message', data = '';
					for (const l of block.split('\n')) {
						if (l.startsWith('event: ')) name = l.slice(7);
						else if (l.startsWith('data: ')) data += l.slice(6);
					}
					if (data) onEvent(name, data, t);
				}
			});
			resolve(req);
		});
		req.on('error', reject);
		req.end();
	});
}
function pct(a, p) {
	if (!a.length) return NaN;
	const s = [...a].sort((x, y) => x - y);
	return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}
const f1 = (x) => x.toFixed(1);

(async () => {
	// The agent's event stream: every event with its ticket and arrival.
	const events = [];
	const kinds = {};
	await sse(https, new URL('/api/v1/events', API), { agent: false, ca: CA,
		headers: { Authorization: 'Bearer ' + E.WC_AGENT_TOKEN, Accept: 'text/event-stream' } },
	(name, data, t) => {
		try {
			const d = JSON.parse(data);
			kinds[d.kind] = (kinds[d.kind] || 0) + 1;
			events.push({ ticket: d.ticket, kind: d.kind, t });
		} catch (e) { /* heartbeat */ }
	});

	// The visitors, each with a secret and an open answer stream.
	const convs = [];
	for (let i = 0; i < NCONV; i++) convs.push({ i, posts: [], replyAt: 0, replyGot: 0 });
	await Promise.all(convs.map(async (c) => {
		for (;;) {
			const r = await visitor('POST', 'conversations', {});
			if (r.status === 201) { c.secret = JSON.parse(r.body).secret; break; }
			await sleep(200);
		}
		c.id = 'wc-' + crypto.createHash('sha256').update(c.secret).digest('hex');
		const path = '/chat/v1/stream?secret=' + c.secret;
		c.stream = await sse(http, new URL(path, BRIDGE), { agent: false, headers: { Origin: ORIGIN } },
			(name, data, t) => {
				if (name === 'reply' && data.includes(`bench-reply-${c.i} `) && !c.replyGot) c.replyGot = t;
			});
	}));
	console.log(`# ${NCONV} visitors connected, their answer streams open`);

	// The messages: one at a time per visitor, all visitors at once.
	let retries = 0, refused = 0, lagMax = 0;
	const per = Math.floor(NMSG / NCONV), extra = NMSG % NCONV;
	const every = RATE > 0 ? (NCONV / RATE) * 1000 : 0; // ms between one visitor's messages
	const t0 = now();
	// Paced: the agent answers every conversation while the visitors write,
	// once each has written (its ticket read from the database once).
	let replying = Promise.resolve(), replyFail = 0;
	const reply = async (c) => {
		c.replyAt = now();
		const r = await agentCall('POST', `/api/v1/tickets/${c.ticket}/reply`, { body: `bench-reply-${c.i} vastaus` });
		if (r.status !== 200 && r.status !== 201) { replyFail++; if (replyFail < 4) console.log(`# reply ${r.status} ${r.body}`); }
	};
	const tickets = () => new Promise((resolve) => execFile(E.WC_PSQL, ['-X', '-q', '-At', '-F', ' ', '-d', 'seutudesk', '-c',
		"SELECT DISTINCT conversation, ticket FROM messages WHERE bridge = 'webchat' AND direction = 'in'"], { encoding: 'utf8' },
	(err, out) => {
		const m = {};
		for (const l of (out || '').trim().split('\n')) { const [id, t] = l.split(' '); m[id] = +t; }
		resolve(m);
	}));
	if (RATE > 0) replying = (async () => {
		await sleep(every + 2000);
		const map = await tickets();
		const due = now(), sent = [];
		for (const [k, c] of convs.entries()) {
			await sleep(due + (k * 1000) / REPLY_RATE - now());
			c.ticket = map[c.id];
			if (c.ticket) sent.push(reply(c));
		}
		await Promise.all(sent);
	})();
	await Promise.all(convs.map(async (c) => {
		const n = per + (c.i < extra ? 1 : 0);
		const phase = Math.random() * every;
		for (let k = 0; k < n; k++) {
			const m = { secret: c.secret, id: `${TAG}${k}`, name: `Vierailija ${c.i}`, text: `bench ${TAG} c${c.i} m${k}: tulostin ei toimi`,
				site: 'kinnula', lang: 'fi' };
			if (every > 0) {
				const due = t0 + phase + k * every;
				await sleep(due - now());
				lagMax = Math.max(lagMax, now() - due);
			}
			const t = now();
			for (let a = 0; ; a++) {
				const r = await visitor('POST', 'messages', m);
				if (r.status === 200 || r.status === 201) break;
				if (r.status !== 0 && r.status !== 429 && r.status !== 503) { refused++; console.log(`# refused ${r.status} ${r.body}`); break; }
				retries++;
				await sleep(Math.max(r.retry * 1000, 50 * 2 ** Math.min(a, 5)));
			}
			c.posts.push(t);
		}
	}));
	const t1 = now();
	console.log(`# ${RATE > 0 ? `paced at ${RATE}/s` : 'saturated'}: ${NMSG} messages posted in ${f1((t1 - t0) / 1000)} s (${f1(NMSG / ((t1 - t0) / 1000))}/s), ${retries} retries, ${refused} refused${RATE > 0 ? `, sends at most ${f1(lagMax)} ms behind schedule` : ''}`);

	// Each message's event on the agents' stream: by ticket, in order.
	const ignore = /^(typing|chat_|sla_|ack|assigned|warning|mail_|reply|claimed|status)/;
	const waitEnd = now() + 30000;
	const msgEvents = () => events.filter((e) => !ignore.test(e.kind)).length;
	while (msgEvents() < NMSG && now() < waitEnd) await sleep(200);
	const ticketOf = await tickets();
	const byTicket = {};
	for (const e of events) if (!ignore.test(e.kind)) (byTicket[e.ticket] = byTicket[e.ticket] || []).push(e.t);
	const inLat = [];
	for (const c of convs) {
		const ev = byTicket[ticketOf[c.id]] || [];
		c.ticket = ticketOf[c.id];
		c.posts.forEach((t, k) => { if (ev[k] !== undefined) inLat.push(ev[k] - t); });
	}
	console.log(`# agents' stream event kinds: ${JSON.stringify(kinds)}`);
	console.log(`# visitor post -> agents' event stream: ${inLat.length} of ${NMSG} matched, p50 ${f1(pct(inLat, 50))} ms, p99 ${f1(pct(inLat, 99))} ms, max ${f1(Math.max(...inLat))} ms`);

	// Saturated: one agent reply per conversation, 16 at a time; timed to the visitor's stream.
	await replying;
	let next = 0;
	if (RATE === 0) await Promise.all(Array.from({ length: 16 }, async () => {
		while (next < convs.length) await reply(convs[next++]);
	}));
	// A reply committed out of id order reaches the bridge at its next sweep (HUB_SWEEP_S, at most one long poll later).
	const rEnd = now() + 40000;
	while (convs.some((c) => !c.replyGot) && now() < rEnd) await sleep(100);
	const outLat = convs.filter((c) => c.replyGot).map((c) => c.replyGot - c.replyAt);
	console.log(`# agent reply -> visitor's stream: ${outLat.length} of ${NCONV} arrived, p50 ${f1(pct(outLat, 50))} ms, p99 ${f1(pct(outLat, 99))} ms, max ${f1(Math.max(...outLat))} ms${replyFail ? `, ${replyFail} replies refused` : ''}`);
	console.log(`RESULT mode=${RATE > 0 ? 'paced' : 'saturated'} rate=${f1(NMSG / ((t1 - t0) / 1000))} in_p50=${f1(pct(inLat, 50))} in_p99=${f1(pct(inLat, 99))} out_p50=${f1(pct(outLat, 50))} out_p99=${f1(pct(outLat, 99))} matched=${inLat.length} replies=${outLat.length}`);
	process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
