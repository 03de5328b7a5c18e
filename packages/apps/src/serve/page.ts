// The one page of `sgi serve`: self-contained (inline CSS and JS, system fonts, nothing from other
// hosts), talking to the JSON API of server.ts. Upload or draw a face, see each stage's
// reconstruction and scores, download the W+ code, edit with a slider per direction, interpolate,
// mix styles and swap faces between two faces. Plain DOM code; the client JS avoids template
// literals so that this file can hold it in one.

const CSS = `
:root { color-scheme: light dark; --fg: #1d2433; --muted: #5b6475; --bg: #f6f7f9; --card: #fff; --line: #dde1e8; --accent: #2f6fdf; --err: #b3261e; --errbg: #fdecea; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #a1a9b8; --bg: #14171c; --card: #1d2129; --line: #313744; --accent: #6b9bff; --err: #ffb4ab; --errbg: #3b1714; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); background: var(--card); display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: baseline; }
header h1 { font-size: 19px; margin: 0; }
header .meta { color: var(--muted); font-size: 13px; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px; margin: 14px 0; }
section h2 { font-size: 16px; margin: 0 0 10px; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0; }
.error { background: var(--errbg); color: var(--err); border: 1px solid var(--err); border-radius: 8px; padding: 10px 14px; margin: 12px 0; font-weight: 500; }
.busy { position: fixed; top: 12px; right: 16px; background: var(--card); border: 1px solid var(--line); border-radius: 20px; padding: 6px 14px; box-shadow: 0 2px 8px rgba(0,0,0,.15); display: flex; align-items: center; gap: 8px; z-index: 10; }
.spinner { width: 14px; height: 14px; border: 2px solid var(--line); border-top-color: var(--accent); border-radius: 50%; animation: spin .8s linear infinite; }
@keyframes spin { to { transform: rotate(360deg); } }
[hidden] { display: none !important; }
.row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; text-align: center; }
figure img, .thumb img { image-rendering: pixelated; background: #888; border-radius: 6px; display: block; }
figure img { width: 176px; height: 176px; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 4px; max-width: 176px; }
.drop { display: inline-flex; align-items: center; gap: 10px; border: 2px dashed var(--line); border-radius: 10px; padding: 12px 16px; cursor: pointer; }
.drop.over { border-color: var(--accent); }
button, .button { font: inherit; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 8px; padding: 7px 14px; cursor: pointer; text-decoration: none; display: inline-block; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
button:disabled { opacity: .5; cursor: default; }
.controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin: 8px 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 10px; }
.thumb { border: 2px solid transparent; border-radius: 8px; padding: 2px; background: none; cursor: pointer; }
.thumb img { width: 56px; height: 56px; }
.thumb.selected { border-color: var(--accent); }
table { border-collapse: collapse; font-size: 13px; margin-top: 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 12px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.sliders { display: grid; grid-template-columns: max-content 1fr 3.5em max-content; gap: 6px 10px; align-items: center; min-width: 320px; flex: 1; }
.sliders output { font-variant-numeric: tabular-nums; text-align: right; }
.sliders .unit { color: var(--muted); font-size: 12px; }
input[type=range] { width: 100%; }
.panel { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; flex: 1; min-width: 250px; }
.panel h3 { font-size: 14px; margin: 0 0 8px; }
.panel figure img { width: 144px; height: 144px; }
.panel figcaption { max-width: 144px; }
.warn { color: var(--err); }
.panel > label { display: flex; align-items: center; gap: 8px; margin-bottom: 8px; }
.panel > label input[type=range] { flex: 1; }
select { font: inherit; padding: 4px 6px; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--fg); max-width: 220px; }
`;

const SCRIPT = `
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var info = null, faces = [], current = null, busy = 0;
  var noop = function () {};

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      if (k === 'text') e.textContent = attrs[k]; else if (k === 'className') e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function setBusy(delta, text) {
    busy = Math.max(0, busy + delta);
    if (text) $('busy-text').textContent = text;
    $('busy').hidden = busy === 0;
    document.body.setAttribute('aria-busy', busy > 0 ? 'true' : 'false');
  }
  function showError(msg) { var e = $('error'); e.textContent = msg; e.hidden = false; }
  function clearError() { var e = $('error'); e.hidden = true; e.textContent = ''; }

  /** fetch + JSON; a 4xx/5xx answer shows its message on the page and rejects. */
  function api(path, opts, text) {
    setBusy(1, text || 'working...');
    return fetch(path, opts || {}).then(function (r) {
      return r.text().then(function (t) {
        var body = null;
        try { body = JSON.parse(t); } catch (e) { body = { error: t || r.statusText }; }
        if (!r.ok) throw new Error((body && body.error) || ('the server answered ' + r.status));
        return body;
      });
    }, function () {
      throw new Error('the server does not answer: is sgi serve still running?');
    }).then(function (body) { setBusy(-1); return body; }, function (e) { setBusy(-1); showError(e.message); throw e; });
  }
  function postJson(path, body, text) {
    return api(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }, text);
  }
  /** Calls fn with the newest arguments only, one call at a time (sliders send no backlog). */
  function latest(fn) {
    var running = false, next = null;
    function pump() {
      if (running || !next) return;
      var args = next; next = null; running = true;
      fn.apply(null, args).catch(noop).then(function () { running = false; pump(); });
    }
    return function () { next = Array.prototype.slice.call(arguments); pump(); };
  }
  function fmt(v, d) { return v === null || v === undefined ? '-' : Number(v).toFixed(d); }
  function faceById(id) { for (var i = 0; i < faces.length; i++) if (faces[i].id === id) return faces[i]; return null; }

  // ---- faces ----
  function addFace(face, select) {
    faces.push(face);
    var b = el('button', { className: 'thumb', title: face.label, type: 'button', 'data-id': face.id }, [el('img', { src: face.input, alt: face.label })]);
    b.addEventListener('click', function () { selectFace(face.id); });
    $('gallery').appendChild(b);
    if (select) selectFace(face.id);
    refreshPair(true);
  }
  function selectFace(id) {
    current = faceById(id);
    Array.prototype.forEach.call(document.querySelectorAll('.thumb'), function (t) { t.classList.toggle('selected', t.getAttribute('data-id') === id); });
    var f = current;
    var stages = $('stages');
    stages.textContent = '';
    stages.appendChild(el('figure', null, [el('img', { src: f.input, alt: 'input' }), el('figcaption', { text: 'input: ' + f.label })]));
    f.stages.forEach(function (src, i) {
      var s = f.scores[i];
      stages.appendChild(el('figure', null, [el('img', { src: src, alt: 'stage ' + (i + 1) + ' reconstruction', className: 'stage' }),
        el('figcaption', { text: 'stage ' + (i + 1) + ': PSNR ' + fmt(s.psnr, 2) + ' dB, SSIM ' + fmt(s.ssim, 3) + (s.lpips === null ? '' : ', LPIPS ' + fmt(s.lpips, 3)) })]));
    });
    var tb = $('scores').querySelector('tbody');
    tb.textContent = '';
    f.scores.forEach(function (s) {
      tb.appendChild(el('tr', null, [el('td', { text: 'stage ' + s.stage }), el('td', { text: fmt(s.psnr, 2) }), el('td', { text: fmt(s.ssim, 4) }), el('td', { text: fmt(s.lpips, 4) })]));
    });
    $('how').textContent = f.how + '; inverted in ' + fmt(f.seconds, 2) + ' s.';
    $('download').href = f.code;
    $('download').setAttribute('download', 'w-plus-' + f.id + '.npy');
    $('result').hidden = false;
    $('edit').hidden = false;
    resetSliders();
  }

  function upload(file) {
    clearError();
    if (!file) return;
    if (file.size > info.limits.maxUploadBytes) { showError(file.name + ' is too large (' + (file.size / 1e6).toFixed(1) + ' MB); the limit is ' + info.limits.maxUpload + '.'); return; }
    var q = '?name=' + encodeURIComponent(file.name) + (info.domain === 'photos' && !$('align').checked ? '&align=0' : '');
    api('/api/invert' + q, { method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file }, 'inverting ' + file.name + '...')
      .then(function (face) { addFace(face, true); }).catch(noop);
  }

  // ---- edits ----
  function strengths() {
    var s = {};
    Array.prototype.forEach.call(document.querySelectorAll('#sliders input[type=range]'), function (r) {
      var v = Number(r.value);
      if (v !== 0) s[r.getAttribute('data-name')] = v;
    });
    return s;
  }
  function resetSliders() {
    Array.prototype.forEach.call(document.querySelectorAll('#sliders input[type=range]'), function (r) { r.value = '0'; r.nextElementSibling.textContent = '0'; });
    if (current) {
      $('edit-img').src = current.stages[current.stages.length - 1];
      $('download-edit').href = current.code;
    }
  }
  var sendEdit = latest(function (id, s) {
    return postJson('/api/edit', { face: id, strengths: s }, 'editing...').then(function (r) {
      if (current && current.id === id) {
        $('edit-img').src = r.image;
        $('download-edit').href = current.code + '?edit=' + encodeURIComponent(JSON.stringify(s));
        clearError();
      }
    });
  });
  function buildSliders() {
    var box = $('sliders');
    if (info.directions.length === 0) {
      $('no-directions').hidden = false;
      $('no-directions').textContent = 'No editing direction fits this generator (W+ [' + info.nLatent + ', ' + info.styleDim + '])' +
        (info.skippedDirections.length ? ': ' + info.skippedDirections.length + ' direction file(s) of another shape were skipped.' : '.') + ' Give a folder of directions with --directions.';
      box.hidden = true;
      $('reset').hidden = true;
      return;
    }
    info.directions.forEach(function (d, i) {
      var id = 'dir-' + i;
      var r = el('input', { type: 'range', id: id, min: String(info.strengthRange[0]), max: String(info.strengthRange[1]), step: '0.1', value: '0', 'data-name': d.name });
      var out = el('output', { 'for': id, text: '0' });
      r.addEventListener('input', function () {
        out.textContent = Number(r.value).toFixed(1).replace('.0', '');
        if (current) sendEdit(current.id, strengths());
      });
      box.appendChild(el('label', { 'for': id, text: d.name }));
      box.appendChild(r);
      box.appendChild(out);
      box.appendChild(el('span', { className: 'unit', text: d.unit === 'separation' ? 'x separation (' + d.separation.toPrecision(3) + ' W)' : 'W units' }));
    });
  }

  // ---- two faces ----
  function refreshPair(fresh) {
    var a = $('face-a'), b = $('face-b');
    var keepA = a.value, keepB = b.value;
    [a, b].forEach(function (s) {
      s.textContent = '';
      faces.forEach(function (f, i) { s.appendChild(el('option', { value: f.id, text: (i + 1) + ': ' + f.label })); });
    });
    var n = faces.length;
    $('pair').hidden = n < 2;
    $('pair-hint').hidden = n >= 2;
    if (n < 2) return;
    if (fresh && faces[n - 1].label.indexOf('swap: ') !== 0) { a.value = faces[n - 2].id; b.value = faces[n - 1].id; }
    else { a.value = keepA || faces[n - 2].id; b.value = keepB || faces[n - 1].id; }
    sendInterp(a.value, b.value, Number($('lambda').value));
    sendMix(a.value, b.value, Number($('layer').value));
  }
  var sendInterp = latest(function (a, b, lambda) {
    return postJson('/api/interpolate', { a: a, b: b, lambda: lambda }, 'interpolating...').then(function (r) { $('interp-img').src = r.image; });
  });
  var sendMix = latest(function (a, b, layer) {
    return postJson('/api/mix', { content: a, style: b, layer: layer }, 'mixing...').then(function (r) { $('mix-img').src = r.image; });
  });

  function init() {
    api('/api/info', null, 'loading...').then(function (i) {
      info = i;
      $('meta').textContent = 'config ' + i.config + ' | checkpoint ' + i.checkpoint + ' | ' + i.size + ' px, ' + i.stages + ' stage(s), W+ [' + i.nLatent + ', ' + i.styleDim + ']';
      $('domain').textContent = i.domainNote;
      $('random-init').hidden = i.randomInit.length === 0;
      $('random-init').textContent = 'Built with random weights (as the config says): ' + i.randomInit.join('; ') + '. Expect no likeness.';
      $('limits').textContent = 'Uploads: images up to ' + i.limits.maxUpload + ' and ' + i.limits.maxSide + 'x' + i.limits.maxSide + ' pixels; at most ' + i.limits.maxQueue + ' requests are queued at once.';
      $('random').hidden = !i.randomFaces;
      $('align-box').hidden = i.domain !== 'photos';
      $('lpips-note').textContent = i.lpips.available ? (i.lpips.note || '') : 'LPIPS is not computed by this server.';
      $('layer').max = String(i.nLatent);
      $('layer').value = String(i.mix.defaultLayer);
      $('layer-out').textContent = String(i.mix.defaultLayer);
      $('layer-n').textContent = String(i.nLatent);
      buildSliders();
      $('app').hidden = false;
    }).catch(noop);

    var file = $('file'), drop = $('drop');
    file.addEventListener('change', function () { var f = file.files && file.files[0]; upload(f); file.value = ''; });
    drop.addEventListener('dragover', function (e) { e.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', function () { drop.classList.remove('over'); });
    drop.addEventListener('drop', function (e) { e.preventDefault(); drop.classList.remove('over'); upload(e.dataTransfer.files[0]); });
    $('random').addEventListener('click', function () {
      clearError();
      api('/api/random', { method: 'POST' }, 'drawing a face...').then(function (f) { addFace(f, true); }).catch(noop);
    });
    $('reset').addEventListener('click', resetSliders);
    $('face-a').addEventListener('change', function () { refreshPair(false); });
    $('face-b').addEventListener('change', function () { refreshPair(false); });
    $('lambda').addEventListener('input', function () {
      $('lambda-out').textContent = Number($('lambda').value).toFixed(2);
      sendInterp($('face-a').value, $('face-b').value, Number($('lambda').value));
    });
    $('layer').addEventListener('input', function () {
      $('layer-out').textContent = $('layer').value;
      sendMix($('face-a').value, $('face-b').value, Number($('layer').value));
    });
    $('swap').addEventListener('click', function () {
      postJson('/api/swap', { source: $('face-a').value, target: $('face-b').value }, 'swapping...').then(function (r) {
        $('swap-pasted').src = r.pasted;
        $('swap-img').src = r.face.stages[r.face.stages.length - 1];
        $('swap-out').hidden = false;
        addFace(r.face, false);
      }).catch(noop);
    });
  }
  init();
})();
`;

const BODY = `
<header><h1>sgi serve: StyleGAN inversion (E2Style)</h1><span class="meta" id="meta">loading...</span></header>
<div id="busy" class="busy" hidden role="status"><span class="spinner"></span><span id="busy-text">working...</span></div>
<main>
  <noscript><p class="error">This page needs JavaScript.</p></noscript>
  <div id="error" class="error" role="alert" hidden></div>
  <div id="app" hidden>
  <section id="upload">
    <h2>1. A face</h2>
    <p class="note" id="domain"></p>
    <p class="note warn" id="random-init" hidden></p>
    <div class="controls">
      <label class="drop" id="drop"><input type="file" id="file" accept="image/*"> <span>choose a photo, or drop one here</span></label>
      <button type="button" id="random" hidden>Draw a random face</button>
      <label id="align-box" hidden><input type="checkbox" id="align" checked> find and align the face (FFHQ)</label>
    </div>
    <p class="note" id="limits"></p>
    <div class="gallery" id="gallery"></div>
  </section>
  <section id="result" hidden>
    <h2>2. Reconstruction, stage by stage</h2>
    <div class="row" id="stages"></div>
    <p class="note" id="how"></p>
    <table id="scores"><thead><tr><th>stage</th><th>PSNR (dB)</th><th>SSIM</th><th>LPIPS</th></tr></thead><tbody></tbody></table>
    <p class="note" id="lpips-note"></p>
    <p><a class="button secondary" id="download" href="#" download>download the W+ code (.npy)</a></p>
  </section>
  <section id="edit" hidden>
    <h2>3. Edit</h2>
    <div class="row">
      <figure><img id="edit-img" alt="edited face"><figcaption>edited</figcaption></figure>
      <div class="sliders" id="sliders"></div>
    </div>
    <p class="note" id="no-directions" hidden></p>
    <div class="controls"><button type="button" class="secondary" id="reset">reset</button><a class="button secondary" id="download-edit" href="#" download>download the edited W+ (.npy)</a></div>
  </section>
  <section id="two">
    <h2>4. Two faces: interpolation, style mixing, face swap</h2>
    <p class="note" id="pair-hint">Upload or draw a second face to mix two.</p>
    <div id="pair" hidden>
      <div class="controls"><label>A <select id="face-a"></select></label><label>B <select id="face-b"></select></label></div>
      <div class="row">
        <div class="panel"><h3>Interpolation</h3>
          <label>&lambda; <input type="range" id="lambda" min="0" max="1" step="0.05" value="0.5"> <output id="lambda-out">0.50</output></label>
          <figure><img id="interp-img" alt="interpolated face"><figcaption>&lambda; B + (1 - &lambda;) A</figcaption></figure></div>
        <div class="panel"><h3>Style mixing</h3>
          <label>from layer <input type="range" id="layer" min="0" max="8" step="1" value="4"> <output id="layer-out">4</output> of <span id="layer-n"></span></label>
          <figure><img id="mix-img" alt="mixed face"><figcaption>A's first layers, B's from the chosen layer on</figcaption></figure></div>
        <div class="panel"><h3>Face swap</h3>
          <button type="button" id="swap">put A's face on B</button>
          <div class="row" id="swap-out" hidden>
            <figure><img id="swap-pasted" alt="pasted"><figcaption>pasted</figcaption></figure>
            <figure><img id="swap-img" alt="swapped face"><figcaption>inverted (added to the faces)</figcaption></figure>
          </div></div>
      </div>
    </div>
  </section>
  </div>
</main>
`;

/** The page's HTML. */
export function servePage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sgi serve</title>
<style>${CSS}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;
}
