// cvgallery lightbox: progressive enhancement of the grid's links to image pages.
// Click (or Enter) opens the image in a modal <dialog>; ArrowLeft/ArrowRight move,
// Escape closes and focus returns to the item. Without JavaScript, the links just work.
(function () {
  "use strict";
  var links = Array.prototype.slice.call(document.querySelectorAll(".grid .item > a[data-full]"));
  if (!links.length || typeof HTMLDialogElement !== "function") return;

  var dialog = document.createElement("dialog");
  dialog.className = "lightbox";
  dialog.setAttribute("aria-label", "Image viewer");
  dialog.innerHTML =
    '<div class="stage"></div>' +
    '<p class="caption"><a class="details"></a></p>' +
    '<button type="button" class="prev" aria-label="Previous image">‹</button>' +
    '<button type="button" class="next" aria-label="Next image">›</button>' +
    '<button type="button" class="close" aria-label="Close">✕</button>';
  document.body.appendChild(dialog);
  var stage = dialog.querySelector(".stage");
  var details = dialog.querySelector(".details");
  var current = -1;

  function show(index) {
    current = (index + links.length) % links.length;
    var link = links[current];
    var figure = link.parentNode;
    var thumb = link.querySelector("img");
    var media;
    if (link.dataset.video) {
      media = document.createElement("video");
      media.controls = true;
      media.poster = link.dataset.full;
      media.src = link.dataset.video;
      media.setAttribute("aria-label", thumb ? thumb.alt : "");
    } else {
      media = document.createElement("img");
      media.src = link.dataset.full;
      media.alt = thumb ? thumb.alt : "";
    }
    media.width = +link.dataset.w;
    media.height = +link.dataset.h;
    media.style.backgroundImage = figure.style.backgroundImage;
    stage.replaceChildren(media);
    fit();
    details.textContent = (thumb ? thumb.alt : "") + " — details";
    details.href = link.href;
    dialog.dataset.id = figure.dataset.id;
  }

  // Fill the stage keeping the aspect ratio, up to twice the file's own size. The size
  // comes from the link's data-w/data-h: media.width/height would give the rendered size,
  // already squeezed by the CSS max-width on a narrow screen.
  function fit() {
    var media = stage.firstChild, link = links[current];
    if (!media || !link) return;
    var w = +link.dataset.w, h = +link.dataset.h;
    if (!w || !h) return;
    var box = stage.getBoundingClientRect();
    var scale = Math.min(box.width / w, box.height / h, 2);
    media.style.width = Math.floor(w * scale) + "px";
    media.style.height = Math.floor(h * scale) + "px";
  }

  function open(index) {
    if (!dialog.open) dialog.showModal();
    show(index);
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(index);
    });
  });
  // Closing gives focus to the item last shown. dialog.close() first hands it back to the
  // item that opened the viewer; the "close" event comes a task later, so doing it there
  // leaves a moment with focus on the wrong item. Every way out but the browser's own
  // close requests (e.g. Android's back) goes through here; those still reach "close".
  function closeViewer() {
    dialog.close();
    var last = links[current];
    if (last) last.focus();
  }

  dialog.querySelector(".prev").addEventListener("click", function () { show(current - 1); });
  dialog.querySelector(".next").addEventListener("click", function () { show(current + 1); });
  dialog.querySelector(".close").addEventListener("click", closeViewer);
  dialog.addEventListener("click", function (event) {
    if (event.target === dialog || event.target === stage) closeViewer();
  });
  dialog.addEventListener("keydown", function (event) {
    if (event.key === "ArrowRight") { show(current + 1); event.preventDefault(); }
    else if (event.key === "ArrowLeft") { show(current - 1); event.preventDefault(); }
    else if (event.key === "Escape") { closeViewer(); event.preventDefault(); }
  });
  window.addEventListener("resize", function () {
    if (dialog.open) fit();
  });
  dialog.addEventListener("close", function () {
    stage.replaceChildren();
    var last = links[current];
    if (last && document.activeElement !== last) last.focus();
  });
})();
