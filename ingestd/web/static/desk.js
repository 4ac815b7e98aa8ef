// The desk's only script of its own (no inline scripts: the CSP forbids them).
// "all on this page" ticks or unticks every case checkbox of the list.
document.addEventListener("change", function (event) {
  if (event.target && event.target.id === "pick-all") {
    document.querySelectorAll('#cases input[name="refs"]').forEach(function (box) {
      box.checked = event.target.checked;
    });
  }
});
