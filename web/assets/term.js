// term.js: the least of a VT100/xterm terminal that a shell in a container
// needs, written here so that `go build` alone gives a working terminal
// page (no npm step, no copied library). It keeps a grid of cells, reads
// the output of the shell (UTF-8 text with control characters and escape
// sequences) and draws rows as text nodes and spans. What it does not
// understand is ignored, never shown as garbage.
//
// Understood: printable text with line wrap; CR, LF, BS, HT, BEL; CSI
// sequences for cursor movement (A B C D E F G H d f), erase (J K X), insert
// and delete (@ P L M), scroll region (r), SGR colours and bold/inverse
// (m), save and restore cursor (s u, ESC 7 8), the alternate screen
// (?1049/?47), cursor visibility (?25); OSC strings (titles) are skipped.
"use strict";

class Term {
  constructor(el, send) {
    this.el = el; // a focusable element that receives keys
    this.send = send; // function(string): bytes typed by the user
    this.rows = 24; this.cols = 80;
    this.attr = 0; this.fg = -1; this.bg = -1;
    this.cx = 0; this.cy = 0; this.saved = [0, 0];
    this.top = 0; this.bottom = this.rows - 1;
    this.showCursor = true;
    this.state = 0; this.params = ""; // parser state: 0 text, 1 ESC, 2 CSI, 3 OSC, 4 charset
    this.decoder = new TextDecoder();
    this.grid = this.blank(this.rows);
    this.alt = null;
    this.pending = false;
    el.addEventListener("keydown", (e) => this.key(e));
    el.addEventListener("paste", (e) => {
      e.preventDefault();
      this.send(e.clipboardData.getData("text").replace(/\r?\n/g, "\r"));
    });
  }

  blank(n) {
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(this.line());
    return rows;
  }

  line() {
    const l = [];
    for (let i = 0; i < this.cols; i++) l.push([" ", 0, -1, -1]);
    return l;
  }

  // resize fits the grid to rows×cols, keeping what fits.
  resize(rows, cols) {
    if (rows === this.rows && cols === this.cols) return false;
    const g = this.grid;
    this.cols = cols;
    while (g.length > rows) { g.shift(); this.cy--; }
    while (g.length < rows) g.push(this.line());
    for (let i = 0; i < g.length; i++) {
      g[i].length = Math.min(g[i].length, cols);
      while (g[i].length < cols) g[i].push([" ", 0, -1, -1]);
    }
    this.rows = rows; this.top = 0; this.bottom = rows - 1;
    this.cx = Math.min(this.cx, cols - 1); this.cy = Math.max(0, Math.min(this.cy, rows - 1));
    this.draw();
    return true;
  }

  // write takes the shell's output as bytes (Uint8Array) or text.
  write(data) {
    const s = typeof data === "string" ? data : this.decoder.decode(data, { stream: true });
    for (const ch of s) this.put(ch);
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.draw(); });
    }
  }

  put(ch) {
    const c = ch.codePointAt(0);
    switch (this.state) {
      case 1: // after ESC
        if (ch === "[") { this.state = 2; this.params = ""; }
        else if (ch === "]") { this.state = 3; }
        else if (ch === "(" || ch === ")") { this.state = 4; }
        else { this.state = 0; this.esc(ch); }
        return;
      case 2: // CSI: parameters, then a final byte from @ to ~
        if (c >= 0x40 && c <= 0x7e) { this.state = 0; this.csi(ch, this.params); }
        else this.params += ch;
        return;
      case 3: // OSC: until BEL or ESC \
        if (c === 7) this.state = 0;
        else if (c === 0x1b) this.state = 1;
        return;
      case 4: // charset designation: one byte, ignored
        this.state = 0;
        return;
    }
    if (c === 0x1b) { this.state = 1; return; }
    if (c < 0x20 || c === 0x7f) { this.control(c); return; }
    if (this.cx >= this.cols) { this.cx = 0; this.lf(); }
    this.grid[this.cy][this.cx] = [ch, this.attr, this.fg, this.bg];
    this.cx++;
  }

  control(c) {
    switch (c) {
      case 8: if (this.cx > 0) this.cx--; break; // BS
      case 9: this.cx = Math.min(this.cols - 1, (this.cx + 8) & ~7); break; // HT
      case 10: case 11: case 12: this.lf(); break; // LF VT FF
      case 13: this.cx = 0; break; // CR
    }
  }

  lf() {
    if (this.cy === this.bottom) this.scroll(1);
    else if (this.cy < this.rows - 1) this.cy++;
  }

  // scroll moves the scroll region up by n lines (down when n < 0).
  scroll(n) {
    const region = this.grid.slice(this.top, this.bottom + 1);
    for (let i = 0; i < Math.abs(n); i++) {
      if (n > 0) { region.shift(); region.push(this.line()); }
      else { region.pop(); region.unshift(this.line()); }
    }
    this.grid.splice(this.top, region.length, ...region);
  }

  esc(ch) {
    switch (ch) {
      case "7": this.saved = [this.cx, this.cy]; break;
      case "8": [this.cx, this.cy] = this.saved; break;
      case "D": this.lf(); break;
      case "E": this.cx = 0; this.lf(); break;
      case "M": if (this.cy === this.top) this.scroll(-1); else if (this.cy > 0) this.cy--; break;
      case "c": this.grid = this.blank(this.rows); this.cx = this.cy = 0; this.attr = 0; this.fg = this.bg = -1; break;
    }
  }

  csi(final, raw) {
    const priv = raw.startsWith("?");
    const ps = (priv ? raw.slice(1) : raw).split(";").map((v) => parseInt(v, 10));
    const p = (i, d) => (isNaN(ps[i]) || ps[i] === 0 ? d : ps[i]);
    const row = this.grid[this.cy];
    const clamp = () => {
      this.cx = Math.max(0, Math.min(this.cols - 1, this.cx));
      this.cy = Math.max(0, Math.min(this.rows - 1, this.cy));
    };
    const blankCell = () => [" ", 0, -1, this.bg];
    switch (final) {
      case "A": this.cy -= p(0, 1); clamp(); break;
      case "B": this.cy += p(0, 1); clamp(); break;
      case "C": this.cx += p(0, 1); clamp(); break;
      case "D": this.cx -= p(0, 1); clamp(); break;
      case "E": this.cx = 0; this.cy += p(0, 1); clamp(); break;
      case "F": this.cx = 0; this.cy -= p(0, 1); clamp(); break;
      case "G": this.cx = p(0, 1) - 1; clamp(); break;
      case "d": this.cy = p(0, 1) - 1; clamp(); break;
      case "H": case "f": this.cy = p(0, 1) - 1; this.cx = p(1, 1) - 1; clamp(); break;
      case "J": {
        const m = ps[0] || 0;
        const from = m === 0 ? this.cy + 1 : 0, to = m === 1 ? this.cy : this.rows;
        if (m === 0) for (let x = this.cx; x < this.cols; x++) row[x] = blankCell();
        if (m === 1) for (let x = 0; x <= this.cx; x++) row[x] = blankCell();
        for (let y = from; y < to; y++) if (m === 2 || m === 3 || y !== this.cy) this.grid[y] = this.line();
        break;
      }
      case "K": {
        const m = ps[0] || 0;
        const a = m === 0 ? this.cx : 0, b = m === 1 ? this.cx + 1 : this.cols;
        for (let x = a; x < b && x < this.cols; x++) row[x] = blankCell();
        break;
      }
      case "X": for (let x = this.cx; x < this.cx + p(0, 1) && x < this.cols; x++) row[x] = blankCell(); break;
      case "@": for (let i = 0; i < p(0, 1); i++) { row.splice(this.cx, 0, blankCell()); row.length = this.cols; } break;
      case "P": row.splice(this.cx, p(0, 1)); while (row.length < this.cols) row.push(blankCell()); break;
      case "L": case "M": {
        if (this.cy < this.top || this.cy > this.bottom) break;
        const saveTop = this.top;
        this.top = this.cy;
        this.scroll(final === "L" ? -p(0, 1) : p(0, 1));
        this.top = saveTop;
        break;
      }
      case "S": this.scroll(p(0, 1)); break;
      case "T": this.scroll(-p(0, 1)); break;
      case "r": this.top = p(0, 1) - 1; this.bottom = p(1, this.rows) - 1; this.cx = 0; this.cy = 0; break;
      case "s": this.saved = [this.cx, this.cy]; break;
      case "u": [this.cx, this.cy] = this.saved; break;
      case "m": this.sgr(raw === "" ? [0] : ps); break;
      case "h": case "l":
        if (!priv) break;
        for (const v of ps) {
          if (v === 25) this.showCursor = final === "h";
          if (v === 1049 || v === 47 || v === 1047) this.altScreen(final === "h");
        }
        break;
      case "n": // device status report: where the cursor is
        if (ps[0] === 6) this.send(`\x1b[${this.cy + 1};${this.cx + 1}R`);
        break;
    }
  }

  sgr(ps) {
    for (let i = 0; i < ps.length; i++) {
      const v = isNaN(ps[i]) ? 0 : ps[i];
      if (v === 0) { this.attr = 0; this.fg = this.bg = -1; }
      else if (v === 1) this.attr |= 1;
      else if (v === 4) this.attr |= 2;
      else if (v === 7) this.attr |= 4;
      else if (v === 22) this.attr &= ~1;
      else if (v === 24) this.attr &= ~2;
      else if (v === 27) this.attr &= ~4;
      else if (v >= 30 && v <= 37) this.fg = v - 30;
      else if (v === 39) this.fg = -1;
      else if (v >= 40 && v <= 47) this.bg = v - 40;
      else if (v === 49) this.bg = -1;
      else if (v >= 90 && v <= 97) this.fg = v - 90 + 8;
      else if (v >= 100 && v <= 107) this.bg = v - 100 + 8;
      else if ((v === 38 || v === 48) && ps[i + 1] === 5) { // 256 colours: the first 16 map, the rest keep the default
        const n = ps[i + 2];
        if (n < 16) { if (v === 38) this.fg = n; else this.bg = n; }
        i += 2;
      } else if ((v === 38 || v === 48) && ps[i + 1] === 2) i += 4; // true colour: ignored
    }
  }

  altScreen(on) {
    if (on && !this.alt) { this.alt = { grid: this.grid, cx: this.cx, cy: this.cy }; this.grid = this.blank(this.rows); this.cx = this.cy = 0; }
    else if (!on && this.alt) { this.grid = this.alt.grid; this.cx = this.alt.cx; this.cy = this.alt.cy; this.alt = null; }
  }

  // draw renders the grid: one div per row, a span per run of equal
  // attributes. Text goes in as text nodes, never as HTML.
  draw() {
    const frag = document.createDocumentFragment();
    for (let y = 0; y < this.rows; y++) {
      const div = document.createElement("div");
      div.className = "row";
      let run = "", key = null, cls = "";
      const flush = () => {
        if (!run) return;
        if (cls) { const s = document.createElement("span"); s.className = cls; s.textContent = run; div.appendChild(s); }
        else div.appendChild(document.createTextNode(run));
        run = "";
      };
      for (let x = 0; x < this.cols; x++) {
        const [ch, attr, fg, bg] = this.grid[y][x];
        const cur = this.showCursor && y === this.cy && x === Math.min(this.cx, this.cols - 1);
        const k = cur ? "cur" : `${attr},${fg},${bg}`;
        if (k !== key) {
          flush(); key = k;
          cls = cur ? "cur" : Term.classes(attr, fg, bg);
        }
        run += ch;
      }
      flush();
      frag.appendChild(div);
    }
    this.el.replaceChildren(frag);
    this.el.setAttribute("aria-label", "Terminal; the cursor is on row " + (this.cy + 1));
  }

  static classes(attr, fg, bg) {
    const c = [];
    if (attr & 1) c.push("b");
    if (attr & 2) c.push("u");
    if (attr & 4) { const t = fg; fg = bg < 0 ? 0 : bg; bg = t < 0 ? 7 : t; }
    if (fg >= 0) c.push("f" + fg);
    if (bg >= 0) c.push("g" + bg);
    return c.join(" ");
  }

  // key turns a key press into what a terminal sends.
  key(e) {
    if (e.metaKey) return;
    const map = {
      Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
      ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D",
      Home: "\x1b[H", End: "\x1b[F", Delete: "\x1b[3~", PageUp: "\x1b[5~", PageDown: "\x1b[6~", Insert: "\x1b[2~",
    };
    let out = null;
    if (e.ctrlKey && !e.altKey && e.key.length === 1) {
      const k = e.key.toLowerCase();
      // Ctrl-Shift-C and Ctrl-Shift-V stay the browser's copy and paste.
      if (e.shiftKey && (k === "c" || k === "v")) return;
      if (k >= "a" && k <= "z") out = String.fromCharCode(k.charCodeAt(0) - 96);
      else if (k === "[") out = "\x1b";
      else if (k === "\\") out = "\x1c";
      else if (k === "]") out = "\x1d";
      else if (k === " " || k === "@") out = "\x00";
    } else if (map[e.key]) out = map[e.key];
    else if (e.key.length === 1 || [...e.key].length === 1) out = (e.altKey ? "\x1b" : "") + e.key;
    if (out === null) return;
    e.preventDefault();
    this.send(out);
  }

  // fit computes how many rows and columns of the element's font fit in it.
  fit() {
    const probe = document.createElement("span");
    probe.textContent = "MMMMMMMMMM";
    probe.style.visibility = "hidden";
    this.el.appendChild(probe);
    const w = probe.getBoundingClientRect().width / 10;
    const h = probe.getBoundingClientRect().height;
    probe.remove();
    const r = this.el.getBoundingClientRect();
    const cols = Math.max(20, Math.floor((r.width - 8) / (w || 8)));
    const rows = Math.max(5, Math.floor((r.height - 8) / (h || 16)));
    return this.resize(rows, cols);
  }
}

window.Term = Term;
