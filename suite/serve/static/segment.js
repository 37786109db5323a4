// The segment page: choose a model, pick or upload photos, see overlays with class shares, download masks.
"use strict";

(async () => {
  const $ = (id) => document.getElementById(id);
  const photos = $("photos"), model = $("model"), results = $("results");
  let job = null, stream = null;

  const cat = await suite.loadCatalog();
  if (!cat) return;
  for (const m of cat.models) model.add(new Option(`${m.name} (${m.source})`, m.id));
  if (!cat.models.length) suite.message("No segmentation model found: start the server with a folder holding a .keras model.", "info");
  cat.photos.forEach((e, i) => suite.addThumb(photos, e, i === 0));
  suite.wireUpload($("photo-upload"), photos);

  function busy(on) {
    $("run").disabled = on;
    $("cancel").disabled = !on;
  }

  function card(state, item) {
    const div = document.createElement("div");
    div.className = "card";
    const h = document.createElement("h3");
    h.textContent = item.name;
    div.append(h);
    if (item.error) {
      const p = document.createElement("p");
      p.className = "error-text";
      p.textContent = item.error;
      div.append(p);
      return div;
    }
    const img = document.createElement("img");
    img.className = "overlay";
    img.src = suite.fileUrl(state.id, `${item.index}_overlay.jpg`);
    img.alt = `overlay of ${item.name}`;
    const table = document.createElement("table");
    table.className = "legend";
    for (const c of item.classes) {
      const tr = table.insertRow();
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = c.color;
      tr.insertCell().append(sw);
      tr.insertCell().textContent = c.name;
      tr.insertCell().textContent = c.share >= 0.01 ? `${(100 * c.share).toFixed(1)}%` : "<1%";
    }
    const a = document.createElement("a");
    a.href = suite.fileUrl(state.id, `${item.index}_mask.png`, true, item.mask_name);
    a.textContent = "Download mask (PNG)";
    a.className = "download-mask";
    const side = document.createElement("div");
    side.className = "side";
    side.append(table, a);
    const row = document.createElement("div");
    row.className = "row";
    row.append(img, side);
    div.append(row);
    return div;
  }

  function show(state) {
    job = state;
    const status = $("status"), bar = $("progress"), p = state.progress || {};
    const queued = suite.queueText(state);
    if (queued) {
      status.textContent = queued;
    } else if (state.state === "running") {
      status.textContent = p.stage === "segmenting" ? `Segmenting photo ${p.done + 1} of ${p.total}…` : (p.stage || "starting") + "…";
      if (p.total) { bar.hidden = false; bar.value = p.done / p.total; }
      if (state.cancelling) status.textContent += " cancelling…";
    } else if (state.state === "done") {
      const items = state.result.items;
      const failed = items.filter((i) => i.error).length;
      status.textContent = `Done: ${items.length - failed} segmented with ${state.result.model} in ${state.seconds} s` + (failed ? `, ${failed} failed.` : ".");
      bar.value = 1;
      results.replaceChildren(...items.map((it) => card(state, it)));
      if (items.length > failed) {
        $("download-all").href = suite.fileUrl(state.id, "masks.zip", true, "masks.zip");
        $("downloads").hidden = false;
      }
      busy(false);
    } else if (suite.endedBadly(state, status, bar)) {
      busy(false);
    }
  }

  $("run").addEventListener("click", async () => {
    suite.message("");
    results.replaceChildren();
    $("downloads").hidden = true;
    $("progress").hidden = true;
    stream = await suite.startJob("/api/segment", { model: model.value, photos: suite.selected(photos) }, stream, show, busy);
  });

  suite.wireCancel($("cancel"), () => job, show);
})();
