// Headless Chromium driven by playwright-core, for tests/e2e/test_browser.py.
//
//   node tests/browser/run.mjs USER_DATA_DIR
//
// Starts Debian's /usr/bin/chromium with a new, empty profile in
// USER_DATA_DIR (it must not exist or be empty), prints one JSON line
// {"ready": true, "version": ...}, then reads commands from stdin, one JSON
// object a line, and answers each with one JSON line on stdout:
//
//   {"cmd": "goto", "url": U}      load U; its <img>s and the responses seen
//   {"cmd": "reload"}              page.reload(); the same
//   {"cmd": "screenshot", "path": P}   full-page PNG to P
//   {"cmd": "ranges", "url": U, "ranges": ["bytes=0-", {"range": R, "read": N}, ...]}
//                                  fetch() U from the page once per Range,
//                                  in order, past the browser's cache (the
//                                  second form stops after N bytes); each
//                                  answer's status, headers, length, SHA-256
//   {"cmd": "canvas", "url": U}    from the page loaded now (another origin),
//                                  fetch() U in cors mode and draw it on a
//                                  canvas, and load it as <img crossorigin>
//                                  and draw that; read both canvases back
//                                  (getImageData); each way's outcome, size,
//                                  SHA-256 of the pixels, or its error
//   {"cmd": "close"}               close the browser and exit 0
//
// An answer is {"ok": true, ...} or {"ok": false, "error": "..."}.  Every
// command has a time limit, and the whole run another: nothing waits forever.

import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.SWIFTGATE_CHROMIUM || '/usr/bin/chromium';
const STEP_MS = 30000;
const RUN_MS = Number(process.env.SWIFTGATE_BROWSER_RUN_MS || 110000);

// Without the background-networking flags Chromium keeps trying hosts this
// closed network refuses.  Playwright adds --headless and --no-sandbox.
const ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run',
              '--disable-background-networking', '--disable-component-update',
              '--disable-sync', '--disable-default-apps', '--disable-extensions'];

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const userDataDir = process.argv[2];
if (!userDataDir) {
  process.stderr.write('usage: node run.mjs USER_DATA_DIR\n');
  process.exit(2);
}

// The whole run is bounded even if the caller never sends "close".
const watchdog = setTimeout(() => {
  process.stderr.write(`run.mjs: still running after ${RUN_MS} ms, exiting\n`);
  process.exit(3);
}, RUN_MS);

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: ARGS,
  viewport: { width: 1100, height: 700 },
  timeout: STEP_MS,
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(STEP_MS);

// What the browser saw, from the DevTools protocol: one record per request
// that got a response, whether it came from the network, the memory cache or
// the disk cache.  Reset by every goto and reload.
const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
let seen = new Map();
function record(id) {
  if (!seen.has(id)) seen.set(id, { url: null, status: null, mimeType: null, fromDiskCache: false,
                                    fromMemoryCache: false, fromServiceWorker: false });
  return seen.get(id);
}
cdp.on('Network.requestWillBeSent', (e) => { record(e.requestId).url = e.request.url; });
cdp.on('Network.requestServedFromCache', (e) => { record(e.requestId).fromMemoryCache = true; });
cdp.on('Network.responseReceived', (e) => {
  const r = record(e.requestId);
  r.url = e.response.url;
  r.status = e.response.status;
  r.mimeType = e.response.mimeType;
  r.fromDiskCache = !!e.response.fromDiskCache;
  r.fromServiceWorker = !!e.response.fromServiceWorker;
});

async function images() {
  return page.evaluate(() => Array.from(document.images, (img) => ({
    src: img.currentSrc || img.src,
    complete: img.complete,
    naturalWidth: img.naturalWidth,
    naturalHeight: img.naturalHeight,
  })));
}

async function pageState(response) {
  // A fresh record set after the load, so late events still count.
  await page.waitForLoadState('load');
  return {
    status: response ? response.status() : null,
    images: await images(),
    responses: Array.from(seen.values()).filter((r) => r.status !== null),
  };
}

// Runs in the page: sequential fetches with a Range header, bypassing the
// HTTP cache both ways, so every one reaches the gateway.  A range given as
// {range, read: N} is read only until N bytes have come, then cancelled, as a
// media element drops its first request when it seeks; the SHA-256 is then
// of those first N bytes.
async function rangesInPage({ url, ranges }) {
  const out = [];
  for (const spec of ranges) {
    const { range, read } = typeof spec === 'string' ? { range: spec, read: null } : spec;
    const ctl = new AbortController();
    const resp = await fetch(url, { headers: { Range: range }, cache: 'no-store',
                                    signal: ctl.signal });
    let buf;
    if (read === null) {
      buf = new Uint8Array(await resp.arrayBuffer());
    } else {
      const reader = resp.body.getReader();
      const parts = [];
      let n = 0;
      while (n < read) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        n += value.byteLength;
      }
      await reader.cancel();
      ctl.abort();
      buf = new Uint8Array(n);
      let at = 0;
      for (const p of parts) { buf.set(p, at); at += p.byteLength; }
      buf = buf.subarray(0, Math.min(n, read));
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
    out.push({
      range,
      status: resp.status,
      contentRange: resp.headers.get('Content-Range'),
      contentLength: resp.headers.get('Content-Length'),
      contentType: resp.headers.get('Content-Type'),
      acceptRanges: resp.headers.get('Accept-Ranges'),
      xCache: resp.headers.get('X-Cache'),
      length: buf.byteLength,
      sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    });
  }
  return out;
}

// Runs in the page: an image of another origin drawn on canvases the page
// then reads, as a front end that processes fractals in the browser does.
// Both need the gateway's CORS headers: without them fetch() fails and the
// <img> taints its canvas, so getImageData throws.
async function canvasInPage({ url }) {
  async function pixels(source, w, h) {
    const c = document.createElement('canvas');
    c.width = w;
    c.height = h;
    const ctx = c.getContext('2d');
    ctx.drawImage(source, 0, 0);
    const data = ctx.getImageData(0, 0, w, h).data;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
    return { width: w, height: h,
             sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
  }
  const out = {};
  try {
    const resp = await fetch(url, { mode: 'cors', cache: 'no-store' });
    const bitmap = await createImageBitmap(await resp.blob());
    out.fetch = { status: resp.status, xCache: resp.headers.get('X-Cache'),
                  etag: resp.headers.get('ETag'),
                  ...(await pixels(bitmap, bitmap.width, bitmap.height)) };
  } catch (e) {
    out.fetch = { error: String(e) };
  }
  try {
    const img = new Image();
    img.crossOrigin = 'anonymous';
    await new Promise((ok, fail) => {
      img.onload = ok;
      img.onerror = () => fail(new Error('img load failed'));
      img.src = url + '?img';
    });
    out.img = await pixels(img, img.naturalWidth, img.naturalHeight);
  } catch (e) {
    out.img = { error: String(e) };
  }
  return out;
}

async function run(cmd) {
  switch (cmd.cmd) {
    case 'goto': {
      seen = new Map();
      const resp = await page.goto(cmd.url, { waitUntil: 'load' });
      return pageState(resp);
    }
    case 'reload': {
      seen = new Map();
      const resp = await page.reload({ waitUntil: 'load' });
      return pageState(resp);
    }
    case 'screenshot':
      await page.screenshot({ path: cmd.path, fullPage: true });
      return { path: cmd.path };
    case 'ranges':
      return { results: await page.evaluate(rangesInPage, { url: cmd.url, ranges: cmd.ranges }) };
    case 'canvas':
      return await page.evaluate(canvasInPage, { url: cmd.url });
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd.cmd)}`);
  }
}

const { product } = await cdp.send('Browser.getVersion');
say({ ready: true, version: product });

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    say({ ok: false, error: `bad JSON: ${e.message}` });
    continue;
  }
  if (cmd.cmd === 'close') break;
  try {
    say({ ok: true, ...(await withTimeout(run(cmd), STEP_MS + 5000, cmd.cmd)) });
  } catch (e) {
    say({ ok: false, error: String(e && e.stack || e) });
  }
}
await withTimeout(context.close(), 10000, 'close').catch(() => {});
clearTimeout(watchdog);
say({ ok: true, closed: true });
process.exit(0);
