// cvgallery: sharp grid pictures and a lightbox, as progressive enhancement of the grid's
// links to image pages (without JavaScript the links just work).
//
// Sharpness: a grid picture's `sizes` is an estimate (or "auto", which only some browsers
// know); when a picture is shown wider than its file has pixels, its `sizes` becomes the
// width it really has, and the browser fetches the file that fits.
//
// Lightbox: click or Enter opens a modal <dialog> with the focus on the picture; arrows,
// the buttons or a swipe move; past the last picture of an index page it goes on to the
// next page. The address names the picture (page.html#<slug>): opening that address
// opens the lightbox there, and Back closes it. The file shown is the smallest of the
// picture's srcset (in the format the browser chose for the grid) that fills the stage
// at the screen's pixel ratio, never shown wider than the widest file allows; the
// neighbours' files of that size are preloaded.
(function () {
  "use strict";
  var figures = Array.prototype.slice.call(document.querySelectorAll(".grid .item"));
  var items = figures.map(describe).filter(function (item) { return item.link && item.img; });

  function parseSrcset(text) {
    return (text || "").split(",").map(function (part) {
      var bits = part.trim().split(/\s+/);
      return { url: bits[0], w: parseInt(bits[1], 10) || 0 };
    }).filter(function (c) { return c.url && c.w; }).sort(function (a, b) { return a.w - b.w; });
  }

  function describe(figure) {
    var link = figure.querySelector("a");
    var img = link && link.querySelector("img");
    var formats = {};
    if (img) {
      Array.prototype.forEach.call(link.querySelectorAll("source"), function (source) {
        formats[source.type] = parseSrcset(source.getAttribute("srcset"));
      });
      var own = parseSrcset(img.getAttribute("srcset"));
      formats[""] = own.length ? own : [{ url: img.getAttribute("src"), w: +img.getAttribute("width") }];
    }
    var caption = figure.querySelector("figcaption");
    return {
      figure: figure,
      link: link,
      img: img,
      formats: formats,
      ratio: img ? (+img.getAttribute("width") || 1) / (+img.getAttribute("height") || 1) : 1,
      slug: link ? decodeURIComponent(link.getAttribute("href").split("/").pop().replace(/\.html$/, "")) : "",
      title: caption && caption.querySelector("b") ? caption.querySelector("b").textContent : "",
      caption: caption && caption.querySelector("span") ? caption.querySelector("span").textContent : "",
      video: link ? link.getAttribute("data-video") : null
    };
  }

  // -- sharp grid pictures -------------------------------------------------------------------
  // The pixel width of the file a picture shows (naturalWidth is scaled by the srcset's
  // density, so it is looked up by name: the names are content hashes).
  function fileWidth(item, url) {
    var name = url.split("/").pop();
    for (var type in item.formats) {
      var files = item.formats[type];
      for (var i = 0; i < files.length; i++) if (files[i].url.split("/").pop() === name) return files[i].w;
    }
    return 0;
  }
  function widest(item) {
    return Math.max.apply(null, Object.keys(item.formats).map(function (type) {
      var files = item.formats[type];
      return files.length ? files[files.length - 1].w : 0;
    }));
  }
  // Checked in batches, all sizes read before any is written: one layout per batch, not
  // one per picture that loads.
  function sharpen(batch) {
    var changes = batch.map(function (item) {
      var img = item.img;
      if (!img.complete || !img.currentSrc) return null;
      var shown = img.getBoundingClientRect().width, has = fileWidth(item, img.currentSrc);
      return has && shown * devicePixelRatio > has + 1 && has < widest(item) ? [item, shown] : null;
    });
    changes.forEach(function (change) {
      if (!change) return;
      var sizes = Math.ceil(change[1]) + "px";
      Array.prototype.forEach.call(change[0].link.querySelectorAll("source, img"), function (el) {
        if (el.getAttribute("sizes") !== sizes) el.setAttribute("sizes", sizes);
      });
    });
  }
  var loaded = [], sharpenTimer = 0;
  function later(item) {
    loaded.push(item);
    if (!sharpenTimer) sharpenTimer = setTimeout(function () {
      sharpenTimer = 0;
      var batch = loaded;
      loaded = [];
      sharpen(batch);
    }, 100);
  }
  items.forEach(function (item) {
    item.img.addEventListener("load", function () { later(item); });
    if (item.img.complete) later(item);
  });
  var resizeTimer = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () { sharpen(items); if (dialog && dialog.open) fit(); }, 150);
  });

  if (!items.length || typeof HTMLDialogElement !== "function") return;

  // -- the lightbox ----------------------------------------------------------------------------
  var pager = document.querySelector(".pagination");
  var nextPage = pager && pager.querySelector("a[rel=next]");
  var prevPage = pager && pager.querySelector("a[rel=prev]");
  var dialog = null, stage, caption, prevButton, nextButton;
  var current = -1;
  var pushed = false;  // whether opening added a history entry (Back then closes)

  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "lightbox";
    dialog.setAttribute("aria-label", "Image viewer");
    dialog.innerHTML =
      '<figure class="stage" tabindex="-1" autofocus></figure>' +
      '<p class="caption" aria-live="polite"></p>' +
      '<button type="button" class="prev" aria-label="Previous image">‹</button>' +
      '<button type="button" class="next" aria-label="Next image">›</button>' +
      '<button type="button" class="close" aria-label="Close">✕</button>';
    document.body.appendChild(dialog);
    stage = dialog.querySelector(".stage");
    caption = dialog.querySelector(".caption");
    prevButton = dialog.querySelector(".prev");
    nextButton = dialog.querySelector(".next");
    prevButton.addEventListener("click", function () { move(-1); });
    nextButton.addEventListener("click", function () { move(1); });
    dialog.querySelector(".close").addEventListener("click", function () { closeViewer(); });
    dialog.addEventListener("click", function (event) {
      if ((event.target === dialog || event.target === stage) && !swiped) closeViewer();
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "ArrowRight") { move(1); event.preventDefault(); }
      else if (event.key === "ArrowLeft") { move(-1); event.preventDefault(); }
      else if (event.key === "Escape") { closeViewer(); event.preventDefault(); }
    });
    // Closed by the browser itself (Android's back gesture): the address still names it.
    dialog.addEventListener("close", function () {
      stage.replaceChildren();
      if (!closing) leaveHash();
      closing = false;
      var last = items[current];
      if (last && document.activeElement !== last.link) last.link.focus();
    });
    // Swipe on touch screens (pointer events: touch and pen, not the mouse).
    var start = null, swiped = false;
    stage.addEventListener("pointerdown", function (event) {
      swiped = false;
      if (event.pointerType !== "mouse" && event.isPrimary) start = { x: event.clientX, y: event.clientY };
    });
    stage.addEventListener("pointercancel", function () { start = null; });
    stage.addEventListener("pointerup", function (event) {
      if (!start) return;
      var dx = event.clientX - start.x, dy = event.clientY - start.y;
      start = null;
      if (Math.abs(dx) > 40 && Math.abs(dx) > 1.5 * Math.abs(dy)) {
        swiped = true;
        move(dx < 0 ? 1 : -1);
      }
    });
  }

  // The format the browser picked for the grid (avif, webp or the <img>'s JPEG).
  function chosenType(item) {
    var shown = item.img.currentSrc || "";
    var ext = shown.split("?")[0].split(".").pop().toLowerCase();
    var type = { avif: "image/avif", webp: "image/webp" }[ext];
    return type && item.formats[type] ? type : "";
  }
  var preferred = null;  // known once a grid picture has been picked
  function filesOf(item) {
    if (preferred === null) {
      var seen = items.filter(function (i) { return i.img.currentSrc; })[0];
      if (seen) preferred = chosenType(seen);
    }
    return item.formats[preferred || ""] || item.formats[""];
  }

  // The CSS size the picture is shown at: fills the stage, never wider than its widest file
  // shown pixel for pixel.
  function box(item) {
    var files = filesOf(item), widest = files[files.length - 1].w;
    var room = stage.getBoundingClientRect();
    var width = Math.min(room.width, room.height * item.ratio, widest / devicePixelRatio);
    return { w: Math.max(1, Math.floor(width)), h: Math.max(1, Math.floor(width / item.ratio)) };
  }
  function fileFor(item, size) {
    var files = filesOf(item), need = size.w * devicePixelRatio;
    for (var i = 0; i < files.length; i++) if (files[i].w >= need - 1) return files[i];
    return files[files.length - 1];
  }

  function show(index) {
    current = index;
    var item = items[index];
    var size = box(item), file = fileFor(item, size), media;
    if (item.video) {
      media = document.createElement("video");
      media.controls = true;
      media.poster = file.url;
      media.src = item.video;
      media.setAttribute("aria-label", "Video: " + item.img.alt);
    } else {
      media = document.createElement("img");
      media.alt = item.img.alt;
      media.decoding = "async";
      media.setAttribute("fetchpriority", "high");
      media.src = file.url;
      media.dataset.w = file.w;
    }
    media.width = size.w;
    media.height = size.h;
    media.style.width = size.w + "px";
    media.style.height = size.h + "px";
    media.style.backgroundImage = item.figure.style.backgroundImage;
    stage.replaceChildren(media);
    var words = document.createDocumentFragment();
    var title = document.createElement("b");
    title.textContent = item.title || item.img.alt;
    words.appendChild(title);
    if (item.caption) words.appendChild(document.createTextNode(" — " + item.caption));
    var details = document.createElement("a");
    details.href = item.link.href;
    details.textContent = "Details";
    words.appendChild(document.createTextNode(" · "));
    words.appendChild(details);
    caption.replaceChildren(words);
    dialog.dataset.id = item.figure.dataset.id;
    prevButton.disabled = index === 0 && !prevPage;
    nextButton.disabled = index === items.length - 1 && !nextPage;
    [items[index - 1], items[index + 1]].forEach(function (near) {
      if (near && !near.video) new Image().src = fileFor(near, box(near)).url;
    });
  }

  // After a resize: the new size, and a wider file when the old one would now be stretched.
  function fit() {
    var item = items[current], media = stage.firstChild;
    if (!item || !media) return;
    var size = box(item), file = fileFor(item, size);
    media.style.width = size.w + "px";
    media.style.height = size.h + "px";
    if (media.tagName === "IMG" && file.w > +media.dataset.w) {
      media.src = file.url;
      media.dataset.w = file.w;
    }
  }

  function move(step) {
    var target = current + step;
    // The other page may show some of this page's pictures again (the home page holds the
    // newest ones of two numbered pages): it opens at the picture after this one.
    var here = encodeURIComponent(items[current].slug);
    if (target >= items.length) { if (nextPage) location.href = nextPage.href + "#:after:" + here; return; }
    if (target < 0) { if (prevPage) location.href = prevPage.href + "#:before:" + here; return; }
    show(target);
    history.replaceState({ cvgallery: items[target].slug }, "", "#" + encodeURIComponent(items[target].slug));
  }

  function open(index, fromAddress) {
    if (!dialog) build();
    if (!dialog.open) dialog.showModal();
    stage.focus();
    show(index);
    var hash = "#" + encodeURIComponent(items[index].slug);
    if (fromAddress) {
      pushed = false;
      history.replaceState({ cvgallery: items[index].slug }, "", hash);
    } else {
      pushed = true;
      history.pushState({ cvgallery: items[index].slug }, "", hash);
    }
  }

  // Every way out: Back when opening added the entry (popstate then closes), else the
  // address loses its hash here.
  var closing = false;
  function closeViewer() {
    if (!dialog || !dialog.open) return;
    if (pushed) { pushed = false; history.back(); return; }
    leaveHash();
    shut();
  }
  function shut() {
    closing = true;
    dialog.close();
    var last = items[current];
    if (last) last.link.focus();
  }
  function leaveHash() {
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    pushed = false;
  }

  window.addEventListener("popstate", function (event) {
    var slug = event.state && event.state.cvgallery;
    var index = slug ? indexOf(slug) : -1;
    if (index >= 0) {
      if (!dialog || !dialog.open) { if (!dialog) build(); dialog.showModal(); stage.focus(); }
      show(index);
      pushed = false;
    } else if (dialog && dialog.open) {
      pushed = false;
      shut();
    }
  });

  function indexOf(slug) {
    for (var i = 0; i < items.length; i++) if (items[i].slug === slug) return i;
    return -1;
  }

  items.forEach(function (item, index) {
    item.link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      open(index, false);
    });
  });

  // An address naming a picture opens it, on arrival or when typed in later; ":after:<slug>"
  // and ":before:<slug>" come from the next or previous page's lightbox: the picture after
  // (before) that one when this page shows it too, else the first (last) one here.
  function named() {
    var wanted = decodeURIComponent(location.hash.slice(1));
    var from = /^:(after|before):(.*)$/.exec(wanted);
    if (from) {
      var seen = indexOf(from[2]);
      if (from[1] === "after") return seen < 0 ? 0 : Math.min(seen + 1, items.length - 1);
      return seen < 0 ? items.length - 1 : Math.max(seen - 1, 0);
    }
    if (wanted === ":first") return 0;
    if (wanted === ":last") return items.length - 1;
    return wanted ? indexOf(wanted) : -1;
  }
  window.addEventListener("hashchange", function () {
    var index = named();
    if (index >= 0 && !(dialog && dialog.open && current === index)) open(index, true);
  });
  var start = named();
  if (start >= 0) open(start, true);
})();
