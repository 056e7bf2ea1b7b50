// Inline each plot's SVG so that its points link to their patients.
document.querySelectorAll("figure.plot[data-src]").forEach(async (figure) => {
  const holder = figure.querySelector(".svg-holder");
  const response = await fetch(figure.dataset.src);
  holder.innerHTML = response.ok ? await response.text() : "The plot could not be drawn.";
  figure.dataset.loaded = response.ok ? "true" : "error";
});
