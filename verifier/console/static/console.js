// Baoling console: the little JavaScript it has (docs/console.md). Pages work without it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A typed confirmation: the button stays disabled until the field holds the exact value.
  for (const field of document.querySelectorAll("input[data-must-equal]")) {
    const button = document.getElementById(field.dataset.enables);
    const update = () => {
      button.disabled = field.value !== field.dataset.mustEqual;
    };
    field.addEventListener("input", update);
    update();
  }
  // Print buttons (backup codes).
  for (const button of document.querySelectorAll("button[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
