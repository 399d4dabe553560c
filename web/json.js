// JSON with exact 64-bit integers. A lottery nonce is any u64 (e.g. 7248203477629962123): plain
// JSON.parse rounds it to the nearest double (…962000), so the page would show another nonce
// and the entry would fail its proof of work when checked again. parseJson keeps every integer
// beyond 2^53 as a BigInt; stringifyJson writes a BigInt back as its digits.

const TAG = '\u0000\u0001bigint:';
const TAG_IN_JSON = '\\u0000\\u0001bigint:'; // the same, escaped as JSON text must have it
const UNSAFE = /\d{16}/; // a number needs 16+ digits to pass 2^53 − 1 = 9007199254740991

/** JSON.parse, with integers beyond Number.MAX_SAFE_INTEGER as BigInt. */
export function parseJson(text) {
  if (!UNSAFE.test(text)) return JSON.parse(text);
  // Outside strings, an integer token too large for a double becomes a tagged string...
  let out = '';
  let last = 0;
  let tagged = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // a string: skip it, escapes included
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      const token = text.slice(i, j);
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += `${text.slice(last, i)}"${TAG_IN_JSON}${token}"`;
        last = j;
        tagged = true;
      }
      i = j - 1;
    }
  }
  if (!tagged) return JSON.parse(text);
  out += text.slice(last);
  // ...which the reviver turns into a BigInt.
  return JSON.parse(out, (_, v) => (typeof v === 'string' && v.startsWith(TAG) ? BigInt(v.slice(TAG.length)) : v));
}

/** JSON.stringify, with BigInt written as its digits (a JSON number). */
export function stringifyJson(value) {
  let big = false;
  const text = JSON.stringify(value, (_, v) => {
    if (typeof v !== 'bigint') return v;
    big = true;
    return TAG + v.toString();
  });
  // JSON.stringify writes the tag's control characters as \u0000\u0001.
  return big ? text.replace(/"\\u0000\\u0001bigint:(-?\d+)"/g, '$1') : text;
}
