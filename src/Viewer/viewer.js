// The results viewer: projects → cases → a case's scan with its mask in NiiVue; runs with live
// progress and cancel; models with their curves and card. Everything comes from the API the page is
// served beside (/api/...); every text from it is set as text, never parsed as HTML.
'use strict';

// In Azure the page is opened as .../api/viewer/?code=<function key>: the key goes with every request.
const functionKey = new URLSearchParams(location.search).get('code');
const authHeaders = functionKey ? { 'x-functions-key': functionKey } : {};

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...authHeaders, ...(options.headers || {}) } });
  if (!response.ok) {
    let message = response.status + ' ' + response.statusText;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    throw new Error(path + ': ' + message);
  }
  return response;
}
const getJson = async path => (await api(path)).json();

// An image the API serves, shown through an object URL (an <img src> could not send the key).
async function imageOf(path, alt) {
  const image = el('img', { class: 'figure', alt });
  image.src = URL.createObjectURL(await (await api(path)).blob());
  return image;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const link = (hash, text) => el('a', { href: '#' + hash }, text);
const number = (value, digits) => (value === undefined || value === null || Number.isNaN(value)) ? '–' : Number(value).toFixed(digits);
const segment = encodeURIComponent;

function table(headers, rows, numeric = []) {
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h, i) => el('th', { class: numeric.includes(i) ? 'number' : null }, h)))),
    el('tbody', {}, rows.map(cells => el('tr', {}, cells.map((c, i) => el('td', { class: numeric.includes(i) ? 'number' : null }, c))))));
}

function show(crumbs, ...content) {
  document.getElementById('crumbs').replaceChildren(...crumbs.flatMap((c, i) => i ? [' / ', c] : [c]));
  document.getElementById('main').replaceChildren(...content);
}

// ---- pages ----

async function homePage() {
  const [projects, models, runs] = await Promise.all([getJson('/api/projects'), getJson('/api/models'), getJson('/api/runs?kind=train&take=20')]);
  show([],
    el('h2', {}, 'Projects'),
    projects.projects.length ? el('ul', { id: 'projects' }, projects.projects.map(p => el('li', {}, link('/projects/' + segment(p), p))))
      : el('p', { class: 'muted' }, 'No results yet: drop scans into scans/incoming/<project>/.'),
    el('h2', {}, 'Models'),
    models.datasets.length ? el('ul', {}, models.datasets.map(d => el('li', {}, link('/models/' + segment(d), d))))
      : el('p', { class: 'muted' }, 'No models yet: POST /api/datasets/<name>/train.'),
    el('h2', {}, 'Training runs'),
    runs.runs.length ? table(['run', 'state', 'phase', 'started (UTC)'],
      runs.runs.map(r => [link('/runs/' + segment(r.id), r.id), r.state, r.phase || '', r.createdUtc.replace('T', ' ').slice(0, 19)]))
      : el('p', { class: 'muted' }, 'No training runs.'));
}

async function projectPage(project) {
  const [summary, quarantine] = await Promise.all([getJson(`/api/projects/${segment(project)}/cases?take=500`),
    getJson(`/api/projects/${segment(project)}/quarantine`)]);
  const organs = [...new Set(summary.rows.flatMap(r => Object.keys(r.organs)))];
  show([link('/projects/' + segment(project), project)],
    el('p', {}, `${summary.cases} case${summary.cases === 1 ? '' : 's'}; mean Dice ${number(summary.meanDice, 3)} (cases with a label); updated ${summary.updatedUtc}`),
    el('div', { id: 'cases' }, table(['case', 'model', 'mean Dice', ...organs.map(o => o + ' (ml)')],
      summary.rows.map(r => [link(`/projects/${segment(project)}/cases/${segment(r.case)}`, r.case), r.modelVersion, number(r.meanDice, 3),
        ...organs.map(o => number(r.organs[o]?.volumeMl, 1))]), [2, ...organs.map((_, i) => 3 + i)])),
    summary.cases > summary.rows.length ? el('p', { class: 'muted' }, `first ${summary.rows.length} of ${summary.cases} shown`) : null,
    quarantine.quarantined.length ? el('div', { id: 'quarantine' }, el('h2', {}, 'Quarantined drops'),
      table(['case', 'run', 'reason', 'quarantined (UTC)'],
        quarantine.quarantined.map(q => [q.case, q.run, q.reason, q.quarantinedUtc.replace('T', ' ').slice(0, 19)]))) : null);
}

// The label table (labels.json) as NiiVue's label colour map: index = mask value.
function labelColourMap(labels) {
  const values = Object.keys(labels.labels).map(Number);
  const count = Math.max(...values) + 1;
  const map = { R: [], G: [], B: [], A: [], I: [], labels: [] };
  for (let v = 0; v < count; v++) {
    const colour = labels.colours[v] || [0, 0, 0];
    map.R.push(colour[0]); map.G.push(colour[1]); map.B.push(colour[2]);
    map.A.push(v === 0 ? 0 : 255); map.I.push(v); map.labels.push(labels.labels[v] || '');
  }
  return map;
}

// The voxel (in the mask's own indexing) at the centre of its labelled voxels: where the slices open.
function maskCentre(volume) {
  const [, nx, ny, nz] = volume.hdr.dims;
  const data = volume.img;
  let sx = 0, sy = 0, sz = 0, n = 0;
  for (let z = 0, i = 0; z < nz; z++) for (let y = 0; y < ny; y++) for (let x = 0; x < nx; x++, i++)
    if (data[i] > 0) { sx += x; sy += y; sz += z; n++; }
  return n ? [sx / n, sy / n, sz / n] : null;
}

async function casePage(project, caseName, parameters) {
  const detail = await getJson(`/api/projects/${segment(project)}/cases/${segment(caseName)}`);
  const report = detail.report;
  const labels = report.labels ? await getJson(detail.files.labels) : null;
  const colourOf = value => labels?.colours?.[value] || [128, 128, 128];
  const showMask = parameters.get('mask') !== 'off';
  const canvas = el('canvas', { id: 'volume' });
  const status = el('p', { id: 'viewer-status', class: 'muted' }, 'loading the scan…');
  const organs = table(['organ', 'volume (ml)', 'Dice', 'HD95 (mm)'],
    report.organs.map(o => {
      const [r, g, b] = colourOf(o.label);
      return [el('span', {}, el('span', { class: 'swatch', style: `background: rgb(${r}, ${g}, ${b})` }), o.name),
        number(o.volumeMl, 1), number(o.dice, 3), number(o.hd95, 1)];
    }), [1, 2, 3]);
  const maskToggle = el('input', { type: 'checkbox', id: 'mask-toggle', ...(showMask ? { checked: '' } : {}) });
  const views = { multiplanar: 'sliceTypeMultiplanar', axial: 'sliceTypeAxial', coronal: 'sliceTypeCoronal', sagittal: 'sliceTypeSagittal', '3d': 'sliceTypeRender' };
  const initialView = views[parameters.get('view')] ? parameters.get('view') : 'multiplanar';
  const viewPicker = el('select', { id: 'view' }, Object.keys(views).map(v => el('option', { value: v, ...(v === initialView ? { selected: '' } : {}) }, v)));
  show([link('/projects/' + segment(project), project), link(`/projects/${segment(project)}/cases/${segment(caseName)}`, caseName)],
    el('div', { class: 'viewer' },
      el('div', {},
        detail.viewable ? el('div', { class: 'canvas-box' }, canvas) : el('p', { class: 'muted' }, 'This scan is a DICOM series: open its DICOM SEG in a DICOM viewer.'),
        el('div', { class: 'controls' }, el('label', {}, maskToggle, ' mask'), el('label', {}, 'view ', viewPicker), status)),
      el('div', { id: 'case' },
        el('p', {}, `run ${detail.run} · model ${report.modelVersion} · ${report.size.join(' × ')} voxels of ${report.spacingMm.map(s => number(s, 2)).join(' × ')} mm · ${report.prediction}`),
        organs,
        report.meanDice !== undefined && report.meanDice !== null ? el('p', {}, `mean Dice ${number(report.meanDice, 3)} against the label dropped with the scan`) : null,
        report.preview ? el('div', { id: 'preview' }) : null)));
  if (report.preview) imageOf(detail.files.preview, 'preview of ' + caseName).then(i => document.getElementById('preview')?.append(i));
  if (!detail.viewable) { document.body.dataset.viewer = 'ready'; return; }

  const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], isRadiologicalConvention: true, show3Dcrosshair: false, crosshairColor: [1, 1, 0, 0.6] });
  await nv.attachToCanvas(canvas);
  const extension = path => path.toLowerCase().endsWith('.gz') ? '.nii.gz' : '.nii';
  await nv.loadVolumes([
    { url: detail.files.scan, name: caseName + extension(report.scan.path), headers: authHeaders },
    { url: detail.files.mask, name: caseName + '_mask' + extension(report.mask), headers: authHeaders, opacity: showMask ? 0.6 : 0 },
  ]);
  const mask = nv.volumes[1];
  if (labels) mask.setColormapLabel(labelColourMap(labels));
  nv.setRadiologicalConvention(true);
  // Voxels drawn as they are: an interpolated mask would show organ borders the model never drew.
  nv.setInterpolation(true);
  nv.setSliceType(nv[views[initialView]]);
  const centre = maskCentre(mask);
  if (centre) nv.scene.crosshairPos = nv.vox2frac(centre, 1);
  nv.updateGLVolume();
  maskToggle.addEventListener('change', () => nv.setOpacity(1, maskToggle.checked ? 0.6 : 0));
  viewPicker.addEventListener('change', () => nv.setSliceType(nv[views[viewPicker.value]]));
  status.textContent = centre ? 'slices through the centre of the mask' : 'the mask is empty';
  document.body.dataset.viewer = 'ready';
}

async function runPage(id) {
  const header = [link('/runs/' + segment(id), id)];
  const body = el('div', { id: 'run' });
  const cancel = el('button', { id: 'cancel' }, 'Cancel run');
  show(header, body, cancel);
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    // The local host takes POSTs only as JSON (a page elsewhere cannot send that without asking first).
    try { await api(`/api/runs/${segment(id)}/cancel`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }); } catch (e) { body.append(el('p', { class: 'error' }, e.message)); }
  });
  for (;;) {
    if (location.hash !== '#/runs/' + segment(id)) return; // the user went elsewhere
    const run = await getJson(`/api/runs/${segment(id)}`);
    const job = run.progress.job;
    const ended = ['Completed', 'Failed', 'Terminated'].includes(run.state);
    cancel.hidden = ended;
    body.replaceChildren(
      el('p', {}, `${run.name}: ${run.state}${run.progress.phase ? ' — ' + run.progress.phase : ''}`),
      job && job.totalIterations ? el('p', {}, el('progress', { max: job.totalIterations, value: job.iteration || 0 }),
        ` iteration ${job.iteration || 0} of ${job.totalIterations}`) : null,
      job && job.losses ? table(['loss', 'value'], Object.entries(job.losses).map(([k, v]) => [k, number(v, 4)]), [1]) : null,
      job && job.validationDice ? table(['class', 'validation Dice'], Object.entries(job.validationDice).map(([k, v]) => [k, number(v, 3)]), [1]) : null,
      run.error ? el('p', { class: 'error' }, run.error) : null,
      run.output ? el('pre', {}, JSON.stringify(run.output, null, 2)) : null);
    if (ended) return;
    await new Promise(resolve => setTimeout(resolve, 2000));
  }
}

async function modelPage(dataset) {
  const models = await getJson(`/api/models/${segment(dataset)}?take=20`);
  const production = models.production;
  const content = [
    el('p', {}, production ? `in production: ${production.version} (validation mean Dice ${number(production.validationMeanDice, 3)}), promoted ${production.promotedUtc}` : 'no model in production'),
    table(['version', 'validation mean Dice', 'best iteration', 'iterations', 'labeled / unlabeled / validation cases'],
      models.versions.map(v => [v.version + (production && v.version === production.version ? ' (production)' : ''),
        number(v.metrics?.validationMeanDice, 3), v.metrics?.bestIteration ?? '–', v.metrics?.iterations ?? '–',
        v.metrics?.cases ? `${v.metrics.cases.labeled} / ${v.metrics.cases.unlabeled} / ${v.metrics.cases.validation}` : '–']), [1, 2, 3]),
  ];
  const shown = models.versions.find(v => production && v.version === production.version) || models.versions[0];
  const figures = el('div', { id: 'model' });
  show([link('/models/' + segment(dataset), dataset)], ...content, figures);
  if (!shown) return;
  figures.append(el('h2', {}, `${shown.version}: training curves`));
  try { figures.append(await imageOf(shown.files.curves, 'training curves of ' + shown.version)); } catch (e) { figures.append(el('p', { class: 'muted' }, e.message)); }
  figures.append(el('h2', {}, 'Model card'));
  try { figures.append(el('pre', { class: 'card' }, await (await api(shown.files.card)).text())); } catch (e) { figures.append(el('p', { class: 'muted' }, e.message)); }
}

// ---- routing: #/, #/projects/P, #/projects/P/cases/C[?mask=off&view=axial], #/runs/ID, #/models/D ----

async function route() {
  delete document.body.dataset.viewer;
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const parameters = new URLSearchParams(query || '');
  try {
    if (parts[0] === 'projects' && parts.length === 2) await projectPage(parts[1]);
    else if (parts[0] === 'projects' && parts[2] === 'cases' && parts.length === 4) await casePage(parts[1], parts[3], parameters);
    else if (parts[0] === 'runs' && parts.length === 2) await runPage(parts[1]);
    else if (parts[0] === 'models' && parts.length === 2) await modelPage(parts[1]);
    else await homePage();
    document.body.dataset.page = 'ready';
  } catch (e) {
    document.getElementById('main').replaceChildren(el('p', { class: 'error', id: 'error' }, e.message));
    document.body.dataset.page = 'error';
  }
}

window.addEventListener('hashchange', route);
route();
