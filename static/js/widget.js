// The petition widget, in a partner's frame: tells the page around it how tall it is, so that
// the frame can grow with its content (an error list, a longer language). The message, sent
// whenever the height changes:
//   {"type": "bringhumanrightshome:height", "height": <CSS pixels>}
// It carries nothing but the height, so it may go to whichever page frames the widget ("*").
// Without a listener on that page the widget still works, in a frame of its own fixed height.
(function () {
  "use strict";
  if (window.parent === window) {
    return;
  }
  var last = 0;
  function send() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "bringhumanrightshome:height", height: height }, "*");
    }
  }
  if ("ResizeObserver" in window) {
    new ResizeObserver(send).observe(document.documentElement);
  } else {
    window.addEventListener("resize", send);
  }
  window.addEventListener("load", send);
  send();
})();
