// Small DOM helpers shared by the page's modules. Text is always set as text, never as HTML.

export const $ = (sel, root = document) => root.querySelector(sel);

/** el('div.cls', {attr}, ...children): a DOM element; strings become text (never HTML). */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'style' && typeof v === 'object') {
      for (const [p, x] of Object.entries(v)) if (x != null) e.style.setProperty(p.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), x);
    }
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** A hash with its leading zero digits set apart. */
export function hashEl(hex, cls = 'hash') {
  if (!hex) return el('span.' + cls, {}, '–');
  const zeros = /^0*/.exec(hex)[0];
  return el('code.' + cls, { title: hex }, el('span.zeros', {}, zeros), hex.slice(zeros.length));
}

export const short = (hex, n = 10) => (hex ? `${hex.slice(0, n)}…` : '');

export const colorOf = (name) => {
  const m = /(\d+)$/.exec(name ?? '');
  const palette = ['#2563eb', '#9333ea', '#0d9488', '#ea580c', '#db2777', '#65a30d', '#0891b2', '#a16207'];
  if (m) return palette[(Number(m[1]) - 1 + palette.length) % palette.length];
  let h = 0;
  for (const c of name ?? '') h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
};

const numbers = new Intl.NumberFormat('en');
/** 1234567 → "1,234,567" (one formatter: toLocaleString builds one per call). */
export const num = (n) => numbers.format(n);
