// The before/after slider of the comparison pages. Built from the sample grid that
// follows it (the images MkDocs already linked and checked), so the page works
// without JavaScript, just without the slider. No libraries, nothing fetched.
(function () {
  "use strict";

  function element(tag, className) {
    var el = document.createElement(tag);
    el.className = className;
    return el;
  }

  function option(img) {
    var item = document.createElement("option");
    item.value = img.getAttribute("src");
    item.textContent = img.dataset.name;
    return item;
  }

  function menu(images, chosen, label) {
    var select = document.createElement("select");
    select.setAttribute("aria-label", label);
    images.forEach(function (img) {
      var item = option(img);
      if (img.dataset.name === chosen) item.selected = true;
      select.appendChild(item);
    });
    return select;
  }

  function build(box) {
    var grid = document.querySelector(
      '.sample-grid[data-crop="' + box.dataset.crop + '"][data-scale="' + box.dataset.scale + '"]'
    );
    if (!grid) return;
    var images = Array.prototype.slice.call(grid.querySelectorAll("img[data-name]"));
    if (images.length < 2) return;
    var left = menu(images, box.dataset.left, "left image");
    var right = menu(images, box.dataset.right, "right image");
    var menus = element("div", "ba-menus");
    menus.appendChild(left);
    menus.appendChild(right);

    var frame = element("div", "ba-frame");
    var under = element("img", "ba-right");
    var over = element("img", "ba-left");
    var line = element("div", "ba-line");
    var leftTag = element("span", "ba-tag left");
    var rightTag = element("span", "ba-tag right");
    [under, over, line, leftTag, rightTag].forEach(function (el) { frame.appendChild(el); });

    var range = document.createElement("input");
    range.type = "range";
    range.min = "0";
    range.max = "100";
    range.value = "50";
    range.setAttribute("aria-label", "slider position: left image to right image");

    function show() {
      over.src = left.value;
      over.alt = leftTag.textContent = left.options[left.selectedIndex].text;
      under.src = right.value;
      under.alt = rightTag.textContent = right.options[right.selectedIndex].text;
    }
    function move(percent) {
      var clamped = Math.max(0, Math.min(100, percent));
      frame.style.setProperty("--pos", clamped + "%");
      range.value = String(Math.round(clamped));
    }
    function drag(event) {
      var box = frame.getBoundingClientRect();
      move(((event.clientX - box.left) / box.width) * 100);
    }
    left.addEventListener("change", show);
    right.addEventListener("change", show);
    range.addEventListener("input", function () { move(Number(range.value)); });
    frame.addEventListener("pointerdown", function (event) {
      frame.setPointerCapture(event.pointerId);
      drag(event);
    });
    frame.addEventListener("pointermove", function (event) {
      if (frame.hasPointerCapture(event.pointerId)) drag(event);
    });

    box.appendChild(menus);
    box.appendChild(frame);
    box.appendChild(range);
    show();
    move(50);
  }

  function init() {
    document.querySelectorAll(".before-after").forEach(function (box) {
      if (!box.dataset.built) {
        box.dataset.built = "1";
        build(box);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
