// Renders hostile names with web/js/dom.js, as the pages would render a
// user id, a department or a file name from the API. test_browser.py
// checks that they show as text and make no element.
import { el, append, setText } from "./js/dom.js";

const HOSTILE = [
  "<img src=x onerror=alert(1)>.pdf",
  "\"><script>alert(2)</script>",
  "<svg onload=alert(3)>",
];
const out = document.getElementById("out");
HOSTILE.forEach((s, i) => {
  append(out, el("p", { id: `el-${i}`, title: s }, s));
  out.appendChild(setText(document.createElement("p"), s)).id = `text-${i}`;
});
let refused = 0;
for (const [name, value] of [["onclick", "alert(4)"], ["href", "javascript:alert(5)"],
  ["style", "color:red"]]) {
  try {
    out.appendChild(el("a", { [name]: value }, "x"));
  } catch (e) {
    refused++;
  }
}
document.body.dataset.refused = String(refused);
document.body.dataset.hostile = JSON.stringify(HOSTILE);
document.body.dataset.done = "1";
