// ferx web page: upload (file, drop or camera) → POST /v1/analyze?views=true → boxes over the
// photo → click a face for its bars, chain of thought and heatmaps. No libraries, no network
// other than this server; everything built with textContent (never innerHTML with server data).
(function () {
  "use strict";
  var COLOURS = {neutral: "#c8c8c8", happiness: "#f0e442", surprise: "#56b4e9", sadness: "#0072b2",
    anger: "#d55e00", disgust: "#009e73", fear: "#cc79a7", contempt: "#e69f00"};
  var BAND_EDGES = [1.0, 1.5, 2.5, 3.5, 4.5], BANDS = ["A", "B", "C", "D", "E"];
  var REGIONS = ["brows", "eyes", "cheeks", "nose", "mouth", "chin", "jaw"];
  var $ = function (id) { return document.getElementById(id); };
  var auInfo = {};      // code → {name, region, reliability, measured}
  var current = null;   // {result, views}
  var photoUrl = null, stream = null;

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    // style through the CSSOM: the page's CSP (style-src 'self') refuses style attributes
    Object.keys(attrs || {}).forEach(function (k) { if (k === "style") e.style.cssText = attrs[k]; else e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function pct(p) { return p === null || p === undefined ? "–" : Math.round(100 * p) + " %"; }
  function status(text, isError) { var s = $("status"); s.textContent = text; s.className = isError ? "error" : ""; }
  function headers() {
    var key = $("api-key").value.trim(), h = {};
    if (key) { h["X-API-Key"] = key; try { sessionStorage.setItem("ferx-key", key); } catch (e) {} }
    return h;
  }

  function loadModels() {
    fetch("/v1/models", {headers: headers()}).then(function (r) {
      if (r.status === 401) { $("key-box").open = true; status("This server needs an API key: enter it under “API key”."); return null; }
      return r.ok ? r.json() : null;
    }).then(function (m) {
      if (!m) return;
      m.aus.forEach(function (a) { auInfo[a.code] = a; });
      if (m.expression_labels.length) status("Ready. Choose, drop or photograph an image.");
    }).catch(function () { status("The server did not answer.", true); });
  }

  // The previous image and its result go as soon as another is sent: under an error, or while the
  // next one is analysed, they would read as the answer about the new file.
  function clearResult() {
    current = null;
    $("result").hidden = true;
    $("details").hidden = true;
    $("photo").removeAttribute("src");
    Array.prototype.slice.call($("stage").querySelectorAll(".facebox")).forEach(function (b) { b.remove(); });
    $("face-list").textContent = "";
    $("result-meta").textContent = "";
  }

  function analyse(blob, name) {
    if (!blob) return;
    clearResult();
    if (photoUrl) URL.revokeObjectURL(photoUrl);
    photoUrl = URL.createObjectURL(blob);
    var form = new FormData();
    form.append("image", blob, name || "image");
    status("Analysing " + (name || "the image") + "…");
    $("result").setAttribute("aria-busy", "true");
    fetch("/v1/analyze?views=true&maps=false", {method: "POST", body: form, headers: headers()})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, status: r.status, body: body}; }); })
      .then(function (res) {
        $("result").removeAttribute("aria-busy");
        if (!res.ok) {
          if (res.status === 401) $("key-box").open = true;
          status("Not analysed: " + (res.body.message || res.status) + " (" + (res.body.error || res.status) + ")", true);
          return;
        }
        show(res.body);
      })
      .catch(function (e) { $("result").removeAttribute("aria-busy"); status("The request failed: " + e, true); });
  }

  function show(result) {
    var views = {};
    (result.views || []).forEach(function (v) { views[v.face] = v; });
    current = {result: result, views: views};
    var photo = $("photo");
    photo.src = photoUrl;
    photo.alt = result.source + ", " + result.faces.length + " face(s) marked";
    var stage = $("stage");
    Array.prototype.slice.call(stage.querySelectorAll(".facebox")).forEach(function (b) { b.remove(); });
    var list = $("face-list");
    list.textContent = "";
    result.faces.forEach(function (face, k) {
      var f = finalLabel(face), label = f.label, p = f.probability;
      var colour = COLOURS[label] || "#ffffff";
      var title = "Face " + k + (label ? ": " + label + " " + pct(p) + (f.uncertain ? " (uncertain)" : "") : "");  // from 0, as the rows and the CLI
      var b = face.box, W = result.width, H = result.height;
      var box = el("button", {type: "button", "class": "facebox", "data-face": String(k), "aria-label": title,
        title: title, style: "left:" + (100 * b[0] / W) + "%;top:" + (100 * b[1] / H) + "%;width:" +
        (100 * (b[2] - b[0]) / W) + "%;height:" + (100 * (b[3] - b[1]) / H) + "%;border-color:" + colour});
      var tag = el("span", {"class": "tag", style: "background:" + colour, "aria-hidden": "true"},
        k + (label ? " " + label : ""));
      box.appendChild(tag);
      box.addEventListener("click", function () { select(k); });
      stage.appendChild(box);
      var li = el("li"), item = el("button", {type: "button", "aria-pressed": "false", "data-face": String(k)});
      item.appendChild(el("span", {"class": "swatch", style: "background:" + colour, "aria-hidden": "true"}));
      item.appendChild(document.createTextNode(title));
      item.addEventListener("click", function () { select(k); });
      li.appendChild(item); list.appendChild(li);
    });
    $("result-meta").textContent = result.source + " · " + result.width + "×" + result.height + " px · " +
      result.faces.length + " face(s)" + (result.notes.length ? " · " + result.notes.join("; ") : "");
    $("details").hidden = true;
    $("result").hidden = false;
    status(result.faces.length ? "Found " + result.faces.length + " face(s). Select one to see its explanation."
      : "No face found" + (result.notes.length ? ": " + result.notes.join("; ") : "."));
  }

  // The label the explanation concludes (the decision rule), else the classifier's top class: what the
  // report, the annotated images and the CSV's final_label name (ferx.types.Faces.final_label).
  function finalLabel(face) {
    var e = face.explanation;
    if (e && e.probability !== null && e.probability !== undefined && e.label_source !== "ground-truth")
      return {label: e.label, probability: e.probability, uncertain: (e.caveats || []).indexOf("uncertain") >= 0};
    var label = face.expression ? face.expression.label : null;
    return {label: label, probability: label ? face.expression.probabilities[label] : null, uncertain: false};
  }

  function select(k) {
    var face = current.result.faces[k], f = finalLabel(face), label = f.label;
    document.querySelectorAll("[data-face]").forEach(function (b) {
      var on = b.getAttribute("data-face") === String(k);
      b.classList.toggle("selected", on);
      if (b.hasAttribute("aria-pressed")) b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var d = $("details");
    d.style.borderLeftColor = COLOURS[label] || "#cccccc";
    $("details-h").textContent = "Face " + k + (label ? ": " + label + " " + pct(f.probability) + (f.uncertain ? " (uncertain)" : "") : "");
    $("details-meta").textContent = "box (" + face.box.map(Math.round).join(", ") + ") · detection " +
      (face.score === null ? "–" : face.score.toFixed(2));
    renderViews(current.views[k]);
    renderCot(face.explanation);
    renderExpression(face.expression);
    renderAus(face.aus);
    d.hidden = false;
  }

  function renderViews(v) {
    var box = $("views"); box.textContent = "";
    if (!v) { box.appendChild(el("p", {"class": "small"}, "No landmarks for this face: no crop or heatmaps.")); return; }
    [["Face crop", v.crop, "aligned face crop"],
     ["Classifier activation (" + v.label + ")", v.activation, "activation map of the classifier for " + v.label],
     ["AU regions of " + v.label, v.au_regions, "AU regions of " + v.label]].forEach(function (c) {
      var fig = el("figure");
      if (c[1]) fig.appendChild(el("img", {src: c[1], alt: c[2], width: "160", height: "160", "class": "heatmap"}));
      else fig.appendChild(el("div", {"class": "empty"}, c[0].indexOf("AU") === 0 ? (v.label + " has no AU regions") : "no map"));
      fig.appendChild(el("figcaption", {}, c[0]));
      box.appendChild(fig);
    });
  }

  function renderCot(e) {
    var box = $("cot"); box.textContent = "";
    if (!e) { box.appendChild(el("p", {"class": "small"}, "No chain of thought for this face.")); return; }
    var head = "Conclusion: " + e.label + " " + pct(e.probability) + " · AU evidence alone: " + e.au_label;
    if (e.classifier_label) head += " · classifier: " + e.classifier_label + (e.agreement ? " (they agree)" : " (they disagree)");
    box.appendChild(el("p", {"class": "small"}, head));
    e.text.split("\n").forEach(function (para) { if (para.trim()) box.appendChild(el("p", {}, para)); });
    if (e.caveats.length) box.appendChild(el("p", {"class": "caveats"}, "Caveats: " + e.caveats.join(", ")));
  }

  function bar(value, max, cls, ticks) {
    var b = el("div", {"class": "bar" + (cls ? " " + cls : ""), "aria-hidden": "true"});
    var fill = el("span", {style: "width:" + Math.max(0, Math.min(100, 100 * (value || 0) / max)) + "%"});
    b.appendChild(fill);
    (ticks || []).forEach(function (t) { b.appendChild(el("i", {"class": "tick", style: "left:" + (100 * t / max) + "%"})); });
    return b;
  }

  function renderExpression(x) {
    var box = $("expr-bars"); box.textContent = "";
    if (!x) return;
    Object.keys(x.probabilities).sort(function (a, b) { return (x.probabilities[b] || 0) - (x.probabilities[a] || 0); })
      .forEach(function (lab) {
        var p = x.probabilities[lab];
        box.appendChild(el("span", {"class": "name"}, lab));
        var b = bar(p, 1); b.firstChild.style.background = COLOURS[lab] || "#888"; box.appendChild(b);
        box.appendChild(el("span", {"class": "value", "aria-label": lab + " " + pct(p)}, pct(p)));
      });
  }

  // one decimal, rounded down so that the number lies in the band beside it (ferx.numeric.shown_intensity)
  function shown(v) { return (Math.floor(v * 10 + 1e-6) / 10).toFixed(1); }

  function band(v) {
    if (v === null || v < BAND_EDGES[0]) return "";
    var n = 0; BAND_EDGES.forEach(function (e) { if (v >= e) n++; }); return BANDS[n - 1];
  }

  function renderAus(aus) {
    var box = $("au-bars"); box.textContent = "";
    if (!aus) return;
    var codes = Object.keys(aus), groups = {};
    codes.forEach(function (c) { var r = (auInfo[c] || {}).region || "other"; (groups[r] = groups[r] || []).push(c); });
    var order = REGIONS.filter(function (r) { return groups[r]; }).concat(Object.keys(groups).filter(function (r) { return REGIONS.indexOf(r) < 0; }));
    order.forEach(function (region) {
      box.appendChild(el("span", {"class": "region"}, region));
      groups[region].forEach(function (c) {
        var info = auInfo[c] || {name: "", measured: true}, v = aus[c].intensity, unreliable = info.measured === false;
        var name = c + " " + (info.name || "") + (unreliable ? " (unreliable)" : "");
        box.appendChild(el("span", {"class": "name" + (unreliable ? " unreliable" : ""), title: unreliable ?
          "this estimator cannot measure " + c + " reliably: the value is neither presence nor absence" : ""}, name));
        box.appendChild(bar(v, 5, unreliable ? "unreliable" : "", BAND_EDGES));
        var text = v === null ? "–" : shown(v) + (band(v) ? " " + band(v) : "");
        box.appendChild(el("span", {"class": "value" + (unreliable ? " unreliable" : ""),
          "aria-label": name + ": " + (v === null ? "not measured" : shown(v) + (band(v) ? ", band " + band(v) : ", absent"))}, text));
      });
    });
  }

  // -- input: picker, drop, camera ---------------------------------------------------------------
  $("file").addEventListener("change", function (e) { var f = e.target.files[0]; if (f) analyse(f, f.name); e.target.value = ""; });
  var drop = $("drop");
  drop.addEventListener("click", function () { $("file").click(); });
  drop.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); } });
  ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
  ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); }); });
  drop.addEventListener("drop", function (e) { var f = e.dataTransfer.files[0]; if (f) analyse(f, f.name); });
  document.addEventListener("paste", function (e) {
    var item = Array.prototype.find.call(e.clipboardData.items, function (i) { return i.type.indexOf("image/") === 0; });
    if (item) analyse(item.getAsFile(), "pasted image");
  });

  function stopCamera() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null; $("camera").hidden = true; $("camera-open").focus();
  }
  $("camera-open").addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { status("This browser gives no camera here (it needs localhost or HTTPS).", true); return; }
    navigator.mediaDevices.getUserMedia({video: true, audio: false}).then(function (s) {
      stream = s; $("video").srcObject = s; $("camera").hidden = false; $("camera-shoot").focus();
    }).catch(function (e) { status("No camera: " + e.message, true); });
  });
  $("camera-close").addEventListener("click", stopCamera);
  $("camera-shoot").addEventListener("click", function () {
    var v = $("video"), c = document.createElement("canvas");
    c.width = v.videoWidth; c.height = v.videoHeight;
    if (!c.width) { status("The camera has not started yet.", true); return; }
    c.getContext("2d").drawImage(v, 0, 0);
    c.toBlob(function (blob) { stopCamera(); analyse(blob, "camera.jpg"); }, "image/jpeg", 0.92);
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && stream) stopCamera(); });

  try { var k = sessionStorage.getItem("ferx-key"); if (k) $("api-key").value = k; } catch (e) {}
  $("api-key").addEventListener("change", loadModels);
  loadModels();
})();
