// The style page: pick or upload a photo (or a clip) and artworks, run, watch the optimization, download.
"use strict";

(async () => {
  const $ = (id) => document.getElementById(id);
  const photos = $("photos"), artworks = $("artworks"), form = $("options");
  let job = null, stream = null;

  const cat = await suite.loadCatalog();
  if (!cat) return;
  const st = cat.style;
  // Choices and defaults come from the library (suite.style.options, suite.style.transfer), never from this page.
  for (const [name, values] of [["method", st.methods], ["optimizer", st.optimizers]]) {
    const sel = form.elements[name];
    for (const v of values) sel.add(new Option(v, v));
  }
  for (const [k, v] of Object.entries(st.defaults)) if (form.elements[k]) form.elements[k].value = v;
  form.elements.size.max = cat.limits.max_size;
  form.elements.size.min = st.min_side;
  const gatysOnly = [...form.querySelectorAll("[name=iterations],[name=scales],[name=optimizer],[name=content_weight],[name=tv_weight],[name=preview_every]")];
  const fastOnly = [...form.querySelectorAll("[name=strength]")];
  const showMethod = () => {
    const gatys = form.elements.method.value === "gatys";
    gatysOnly.forEach((el) => { el.disabled = !gatys; });
    fastOnly.forEach((el) => { el.disabled = gatys; });
  };
  form.elements.method.addEventListener("change", showMethod);
  showMethod();

  cat.photos.forEach((e, i) => suite.addThumb(photos, e, i === 0));
  (cat.clips || []).forEach((e) => suite.addThumb(photos, e));
  cat.artworks.forEach((e, i) => suite.addThumb(artworks, e, i === 0));
  if (cat.limits.clips) {
    // Clips (the containers suite.common.io.video reads) go through the same picker, bounded by the server.
    $("photo-upload").accept = "image/*,video/*,.mp4,.m4v,.mov,.webm,.mkv,.avi,.gif";
    $("photo-upload-label").textContent = `Upload a photo or a clip (up to ${cat.limits.max_clip_seconds} s)`;
    $("clip-title").hidden = false;
  }
  // Clips run the fast method only (the server says why): picking one chooses it.
  photos.addEventListener("change", () => {
    if (suite.selectedIsClip(photos) && form.elements.method.value !== "fast" && st.methods.includes("fast")) {
      form.elements.method.value = "fast";
      showMethod();
      suite.message("Clips are stylized with the fast method, frame by frame.", "info");
    }
  });
  suite.wireUpload($("photo-upload"), photos);
  suite.wireUpload($("artwork-upload"), artworks);

  // One blend weight per selected artwork, shown only when there are several.
  const blend = $("blend");
  artworks.addEventListener("change", () => {
    const ids = suite.selected(artworks);
    const old = Object.fromEntries([...blend.querySelectorAll("input")].map((i) => [i.dataset.id, i.value]));
    blend.replaceChildren();
    if (ids.length < 2) return;
    const title = document.createElement("p");
    title.textContent = "Blend weights (relative):";
    blend.append(title);
    for (const id of ids) {
      const label = document.createElement("label");
      const input = document.createElement("input");
      Object.assign(input, { type: "number", min: 0, step: "any", value: old[id] || 1 });
      input.dataset.id = id;
      label.append(id.split("/").pop() + " ", input);
      blend.append(label);
    }
  });

  function busy(on) {
    $("run").disabled = on;
    $("cancel").disabled = !on;
  }

  function show(state) {
    const status = $("status"), bar = $("progress"), img = $("result"), video = $("result-video");
    job = state;
    const p = state.progress || {};
    const queued = suite.queueText(state);
    if (queued) {
      status.textContent = queued;
    } else if (state.state === "running") {
      if (p.stage === "optimizing") {
        status.textContent = `Scale ${p.scale}/${p.scales} (${p.size[0]}×${p.size[1]} px) · iteration ${p.step}/${p.steps} · loss ${p.loss.toPrecision(4)}` +
          (state.cancelling ? " · cancelling…" : "");
        bar.hidden = false;
        bar.value = p.done / p.total;
      } else if (p.stage === "stylizing frames") {
        status.textContent = `Frame ${p.frame} of ${p.frames}` + (state.cancelling ? " · cancelling…" : "");
        bar.hidden = false;
        bar.value = p.frames ? p.frame / p.frames : 0;
      } else {
        status.textContent = (p.stage || "starting") + "…";
      }
      if (p.preview != null && img.dataset.preview !== String(p.preview)) {
        img.dataset.preview = String(p.preview);
        img.src = suite.fileUrl(state.id, "preview.jpg") + "?v=" + p.preview;
        img.hidden = false;
      }
    } else if (state.state === "done" && state.result.clip) {
      const r = state.result;
      status.textContent = `Done: ${r.frames} frames of ${r.width}×${r.height} px in ${r.seconds} s.` +
        (r.note ? " " + r.note : "");
      bar.value = 1;
      img.hidden = true;
      video.src = suite.fileUrl(state.id, "result.mp4");
      video.hidden = false;
      video.play().catch(() => { /* autoplay refused: the controls are there */ });
      $("download-image").hidden = true;
      $("download-video").hidden = false;
      $("download-video").href = suite.fileUrl(state.id, "result.mp4", true, "stylized.mp4");
      $("download-sidecar").href = suite.fileUrl(state.id, "result.json", true, "stylized.json");
      $("downloads").hidden = false;
      busy(false);
    } else if (state.state === "done") {
      const r = state.result;
      const loss = r.losses && r.losses.total != null ? ` · final loss ${r.losses.total.toPrecision(4)}` : "";
      status.textContent = `Done: ${r.width}×${r.height} px in ${r.seconds} s${loss}.`;
      bar.value = 1;
      img.src = suite.fileUrl(state.id, "result.png");
      img.hidden = false;
      img.classList.add("final");
      $("download-image").hidden = false;
      $("download-video").hidden = true;
      $("download-image").href = suite.fileUrl(state.id, "result.png", true, "stylized.png");
      $("download-sidecar").href = suite.fileUrl(state.id, "result.json", true, "stylized.json");
      $("downloads").hidden = false;
      busy(false);
    } else if (suite.endedBadly(state, status, bar)) {
      busy(false);
    }
  }

  $("run").addEventListener("click", async () => {
    suite.message("");
    const body = {
      photo: suite.selected(photos)[0],
      artworks: suite.selected(artworks),
      method: form.elements.method.value,
      size: Number(form.elements.size.value),
      iterations: form.elements.iterations.value,
      scales: form.elements.scales.value,
      optimizer: form.elements.optimizer.value,
      style_weight: Number(form.elements.style_weight.value),
      content_weight: Number(form.elements.content_weight.value),
      tv_weight: Number(form.elements.tv_weight.value),
      preview_every: Number(form.elements.preview_every.value),
      preserve_colors: form.elements.preserve_colors.checked,
      strength: Number(form.elements.strength.value),
    };
    const weights = [...blend.querySelectorAll("input")].map((i) => Number(i.value));
    if (weights.length) body.blend = weights;
    const img = $("result");
    img.hidden = true;
    img.classList.remove("final");
    delete img.dataset.preview;
    const video = $("result-video");
    video.pause();
    video.removeAttribute("src");
    video.hidden = true;
    $("downloads").hidden = true;
    $("progress").hidden = true;
    stream = await suite.startJob("/api/style", body, stream, show, busy);
  });

  suite.wireCancel($("cancel"), () => job, show);
})();
