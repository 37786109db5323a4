// Shared by both pages: messages, the catalog, thumbnail pickers, uploads and following a job.
"use strict";

const suite = {
  catalog: null,

  message(text, kind = "error") {
    const box = document.getElementById("message");
    box.textContent = text;
    box.className = "message " + kind;
    box.hidden = !text;
  },

  async api(path, options = {}) {
    let resp;
    try {
      resp = await fetch(path, options);
    } catch (e) {
      throw new Error("the server cannot be reached (is `suite serve` still running?)");
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { /* not JSON: the status says enough */ }
    if (!resp.ok) throw new Error((body && body.error) || `request failed (${resp.status})`);
    return body;
  },

  // The photos, artworks, models and limits the page offers; null (with the reason shown) if the server can't say.
  async loadCatalog() {
    try {
      this.catalog = await this.api("/api/catalog");
    } catch (e) {
      this.message(e.message);
      this.catalog = null;
    }
    return this.catalog;
  },

  // A grid of clickable thumbnails; data-select="one" keeps one selected, "many" toggles.
  // A clip (entry.kind "clip") shows its first frame, marked as a clip.
  addThumb(grid, entry, select = false) {
    const fig = document.createElement("figure");
    fig.className = "thumb";
    fig.dataset.id = entry.id;
    fig.title = `${entry.name} (${entry.source})`;
    if (entry.kind === "clip") {
      fig.classList.add("clip");
      fig.dataset.kind = "clip";
      if (entry.seconds != null) fig.title += ` · clip, ${entry.frames} frames, ${entry.seconds} s`;
    }
    const img = document.createElement("img");
    img.src = "/api/thumb/" + entry.id;
    img.alt = entry.name;
    const cap = document.createElement("figcaption");
    cap.textContent = (entry.kind === "clip" ? "▶ " : "") + entry.name.replace(/^(photos|styles)\//, "");
    fig.append(img, cap);
    fig.addEventListener("click", () => this.toggle(grid, fig));
    grid.append(fig);
    if (select) this.toggle(grid, fig, true);
    return fig;
  },

  toggle(grid, fig, on) {
    const one = grid.dataset.select === "one";
    const next = on === undefined ? !fig.classList.contains("selected") : on;
    if (one) grid.querySelectorAll(".selected").forEach((f) => f.classList.remove("selected"));
    fig.classList.toggle("selected", one ? true : next);
    grid.dispatchEvent(new Event("change"));
  },

  selected(grid) {
    return [...grid.querySelectorAll(".thumb.selected")].map((f) => f.dataset.id);
  },

  // Whether the selected thumbnail of a one-choice grid is a clip.
  selectedIsClip(grid) {
    const fig = grid.querySelector(".thumb.selected");
    return Boolean(fig && fig.dataset.kind === "clip");
  },

  // Uploads one file; the server checks it in full. The size is checked here first so a huge
  // file is refused at once instead of after sending it.
  async upload(file) {
    const limit = this.catalog.limits.max_upload_bytes;
    if (file.size > limit) {
      throw new Error(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB is over the server's limit of ${(limit / 1048576).toFixed(0)} MB`);
    }
    const form = new FormData();
    form.append("file", file);
    return this.api("/api/uploads", { method: "POST", body: form });
  },

  wireUpload(input, grid) {
    input.addEventListener("change", async () => {
      const errors = [];
      for (const file of input.files) {
        try {
          const entry = await this.upload(file);
          this.addThumb(grid, entry, true);
        } catch (e) {
          errors.push(e.message);
        }
      }
      input.value = "";
      this.message(errors.join(" · "), errors.length ? "error" : "info");
    });
  },

  // Follows a job by server-sent events; onState gets every new state until it ends.
  follow(jobId, onState) {
    const source = new EventSource(`/api/jobs/${jobId}/events`);
    source.onmessage = (ev) => {
      const state = JSON.parse(ev.data);
      onState(state);
      if (["done", "failed", "cancelled"].includes(state.state)) source.close();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) return;
      source.close();
      // The stream broke (server restarted?): one last look at the state.
      this.api(`/api/jobs/${jobId}`).then(onState).catch((e) => this.message(e.message));
    };
    return source;
  },

  // Starts a job (POST `body` as JSON to `url`) and follows it: `show` gets every state, `busy(true)`
  // once it has started. Returns the new event stream (`previous` is closed), or `previous` on an error.
  async startJob(url, body, previous, show, busy) {
    try {
      const state = await this.api(url, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      busy(true);
      show(state);
      if (previous) previous.close();
      return this.follow(state.id, show);
    } catch (e) {
      this.message(e.message);
      return previous;
    }
  },

  // The Cancel button of a page: asks the server to cancel `currentJob()` and shows the answer.
  wireCancel(button, currentJob, show) {
    button.addEventListener("click", async () => {
      const job = currentJob();
      if (!job) return;
      try {
        show(await this.api(`/api/jobs/${job.id}/cancel`, { method: "POST" }));
      } catch (e) {
        this.message(e.message);
      }
    });
  },

  queueText(state) {
    if (state.state === "queued") {
      return state.position > 1 ? `Waiting in the queue: position ${state.position} (jobs run one at a time).`
                                : "Waiting in the queue: next to run.";
    }
    return null;
  },

  // The "failed" and "cancelled" ends of a job, the same on every page; true if `state` was one.
  endedBadly(state, status, bar) {
    if (state.state === "failed") {
      status.textContent = "Failed.";
      this.message(state.error);
    } else if (state.state === "cancelled") {
      status.textContent = "Cancelled.";
      bar.hidden = true;
    } else {
      return false;
    }
    return true;
  },

  fileUrl(jobId, name, download, as) {
    let url = `/api/jobs/${jobId}/files/${name}`;
    if (download) url += `?download=1&as=${encodeURIComponent(as || name)}`;
    return url;
  },
};
