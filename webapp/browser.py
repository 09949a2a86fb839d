"""What the page runs in the browser: the pad's helpers in JavaScript, and the page's CSS.

Kept out of app.py, which assembles the page from them: these are strings for Gradio to
ship, not Python to read.
"""

# Gradio 6.31's Sketchpad opens, and reopens after its clear (bin) button, with no drawing
# tool ("select the draw tool to start"): strokes then leave no mark. This selects the
# brush whenever neither the brush nor the eraser is selected, until it stays selected
# (the editor may reset the tool once more while it mounts). The tools are found by their
# place in the toolbar as well as by name, since the names are translated.
KEEP_BRUSH = """() => {
  let tries = 0, steady = 0;
  const pick = () => {
    const pad = document.querySelector('#pad');
    const tools = pad ? [...pad.querySelectorAll('.toolbar-wrap .half-container button')] : [];
    const brush = pad && (pad.querySelector('button[aria-label="Brush"]') || tools[0]);
    if (brush) {
      if (!tools.concat(brush).some(b => b.classList.contains('highlight'))) {
        brush.click();
        steady = 0;
      } else if (++steady >= 3) {
        return;
      }
    }
    if (++tries < 200) setTimeout(pick, 50);
  };
  pick();
}"""

# Gradio 6.31's Sketchpad opens at its "fit" zoom (the canvas as large as the box allows,
# 111% in a 372 px wide box), but its clear button resets the zoom to min(fit, 100%). A box
# just tall enough for the 280 px canvas at 100% (plus the editor's 30 px margins and the
# block's border) caps "fit" at 100% too, so the zoom is the same before and after Clear;
# a narrower box (a phone) fits below 100% both times.
PAD_HEIGHT = 280 + 2 * 30 + 2

# The Sketchpad sends a stroke after a 30 ms wait, three full-size PNG exports (background,
# layer, composite: 50-70 ms in headless Chromium) and three uploads, then its change event:
# most of the pen-lift-to-answer time. The page instead listens to Gradio's editor itself
# (window.editor, the ImageEditor core the pad exposes) and, once per burst of its change
# events (a stroke's end, an undo, a clear), reads the composite at half size (140 px:
# 5 ms; on 1,000 drawn digits as accurate as 280 px, where 56 px loses 0.3-0.7 points) and
# sets it, a PNG data URL of about 2 KB, as the value of a hidden component whose change
# event answers it: one small request per stroke, no uploads. The pad has no change
# listener, so it sends nothing itself.
# The composite is opaque (a white background), so its premultiplied pixels are its pixels.
STROKE = """
let editor = null, queued = false;
const send = () => {
  queued = false;
  document.querySelector('#headline')?.classList.add('reading');
  const layers = editor.layer_manager.image_container;
  const Rect = layers.getLocalBounds().rectangle.constructor;
  const {pixels, width, height} = editor.app.renderer.extract.pixels({
    target: layers, resolution: 0.5, frame: new Rect(0, 0, editor.width, editor.height)});
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  const image = context.createImageData(width, height);
  image.data.set(pixels);
  context.putImageData(image, 0, 0);
  props.value = canvas.toDataURL('image/png');
};
const changed = () => {
  if (!queued) { queued = true; setTimeout(send, 0); }
};
const attach = () => {
  if (window.editor && window.editor !== editor) {
    editor = window.editor;
    editor.on('change', changed);
  }
};
attach();
setInterval(attach, 250);
"""

CSS = """
#headline {position: relative}
#headline.reading::after {content: "reading…"; position: absolute; top: .2rem; right: .4rem;
  font-size: .85rem; opacity: .6}
#pad {max-width: 372px}
.headline {display: flex; align-items: center; gap: .75rem; min-height: 3.5rem}
.headline .digit {font-size: 3.25rem; font-weight: 700; line-height: 1}
.headline.hint {font-size: 1.15rem; font-weight: 600}
.answers {display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: flex-start}
.answers .scroll {overflow-x: auto; max-width: 100%}
.answers table {border-collapse: collapse; font-size: .875rem; margin: 0}
.answers th, .answers td {padding: .15rem .5rem; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--border-color-primary)}
.answers th:first-child, .answers td:first-child {text-align: left}
.answers td.answer {font-weight: 700; font-size: 1rem}
.answers tr.disagree td, .answers tr.error td, .disagree {color: var(--error-text-color)}
.answers tr.refused td {opacity: .6}
.answers .tag {font-size: .75rem; opacity: .7}
.preview {margin: 0; text-align: center; font-size: .75rem}
.preview img {image-rendering: pixelated; border: 1px solid var(--border-color-primary)}
#pad canvas {touch-action: none}  /* a finger on the pad draws; it does not scroll the page */
.strip {display: flex; flex-wrap: wrap; gap: .5rem; align-items: flex-start}
.strip figure {margin: 0; text-align: center; font-size: .7rem; max-width: 9rem}
.strip img {image-rendering: pixelated; border: 1px solid var(--border-color-primary)}
#zoo-chart .vega-embed {width: 100%}  /* the chart's container: the block, not the chart */
#zoo-chart svg text {fill: var(--body-text-color)}
#zoo-chart svg .role-axis-grid line {stroke: var(--border-color-primary)}
@media (max-width: 520px) {  /* a phone: variant, answer, confidence, accuracy */
  .answers table {font-size: .8rem}
  .answers th, .answers td {padding: .15rem .2rem}
  .answers th {white-space: normal}
  .answers td code {font-size: .66rem}  /* a name stays whole, on one line */
  .answers .tag {display: block}
  .answers th:nth-child(4), .answers td:nth-child(4),
  .answers th:nth-child(5), .answers td:nth-child(5),
  .answers th:nth-child(7), .answers td:nth-child(7) {display: none}
}
"""
