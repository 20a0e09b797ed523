// An accessibility audit of the page as it stands, run in the page by the
// browser tests. It returns a list of problems (empty: all good). It checks
// what a person with a screen reader, a keyboard or a phone would trip on
// first; it is no substitute for a full WCAG review.
() => {
  const problems = [];
  const shown = (el) => el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
  const words = (text) => (text || '').replace(/\s+/g, ' ').trim();
  const describe = (el) => {
    const cls = typeof el.className === 'string' && el.className ? `.${el.className.split(' ')[0]}` : '';
    return `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${cls}`;
  };

  // The text of a node as assistive technology reads it: aria-hidden
  // subtrees left out.
  const readText = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent;
    if (node.nodeType !== Node.ELEMENT_NODE || node.getAttribute('aria-hidden') === 'true') return '';
    return [...node.childNodes].map(readText).join(' ');
  };

  const accessibleName = (el) => {
    const labelledby = el.getAttribute('aria-labelledby');
    if (labelledby) {
      const text = words(
        labelledby
          .split(/\s+/)
          .map((id) => document.getElementById(id))
          .filter(Boolean)
          .map(readText)
          .join(' '),
      );
      if (text) return text;
    }
    const label = words(el.getAttribute('aria-label'));
    if (label) return label;
    if (el.labels && el.labels.length) {
      const text = words([...el.labels].map(readText).join(' '));
      if (text) return text;
    }
    if (['BUTTON', 'A', 'SUMMARY'].includes(el.tagName)) {
      const text = words(readText(el));
      if (text) return text;
    }
    if (el.tagName === 'svg') {
      const title = el.querySelector(':scope > title');
      if (title && words(title.textContent)) return words(title.textContent);
    }
    return words(el.getAttribute('title'));
  };

  // -- the document --
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!words(document.title)) problems.push('the document has no title');
  if (!document.querySelector('meta[name="viewport"]')) problems.push('no viewport meta tag');

  // -- landmarks and headings --
  const mains = document.querySelectorAll('main, [role="main"]');
  if (mains.length !== 1) problems.push(`expected one main landmark, found ${mains.length}`);
  if (!document.querySelector('body > header, [role="banner"]')) problems.push('no banner landmark');
  const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(shown);
  const h1s = headings.filter((el) => el.tagName === 'H1');
  if (h1s.length !== 1) problems.push(`expected one visible h1, found ${h1s.length}`);
  let level = 0;
  for (const heading of headings) {
    const next = Number(heading.tagName[1]);
    if (next > level + 1) problems.push(`heading level skips from h${level} to ${describe(heading)}`);
    if (!words(heading.textContent)) problems.push(`${describe(heading)} is empty`);
    level = next;
  }
  for (const region of document.querySelectorAll('section[aria-labelledby], aside, nav, form[aria-label]')) {
    if (shown(region) && !accessibleName(region)) problems.push(`${describe(region)} landmark has no name`);
  }

  // -- live regions for status messages --
  if (!document.querySelector('[role="status"], [aria-live="polite"]')) problems.push('no polite live region');
  if (!document.querySelector('[role="alert"], [aria-live="assertive"]')) problems.push('no alert live region');

  // -- ids and references --
  const seen = new Set();
  for (const el of document.querySelectorAll('[id]')) {
    if (seen.has(el.id)) problems.push(`duplicate id ${el.id}`);
    seen.add(el.id);
  }
  for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls', 'for']) {
    for (const el of document.querySelectorAll(`[${attr}]`)) {
      for (const id of el.getAttribute(attr).split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`${describe(el)} ${attr} points at missing #${id}`);
      }
    }
  }

  // -- names of controls, buttons, links, images --
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (el.type === 'hidden' || !shown(el)) continue;
    if (!accessibleName(el)) problems.push(`${describe(el)} has no label`);
  }
  for (const el of document.querySelectorAll('button, a[href], summary, [role="button"]')) {
    if (shown(el) && !accessibleName(el)) problems.push(`${describe(el)} has no accessible name`);
  }
  for (const el of document.querySelectorAll('img')) {
    if (!el.hasAttribute('alt')) problems.push(`${describe(el)} has no alt`);
  }
  for (const el of document.querySelectorAll('svg')) {
    if (!shown(el) || el.closest('[aria-hidden="true"]')) continue;
    if (el.getAttribute('role') !== 'img' || !accessibleName(el)) problems.push(`${describe(el)} chart has no image role and name`);
  }
  for (const el of document.querySelectorAll('table')) {
    if (shown(el) && !el.querySelector('th')) problems.push(`${describe(el)} has no header cells`);
  }

  // -- keyboard --
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (Number(el.getAttribute('tabindex')) > 0) problems.push(`${describe(el)} has a positive tabindex`);
  }

  // -- colour contrast of text (WCAG AA: 4.5:1, 3:1 for large text) --
  const parse = (color) => {
    const m = color.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const luminance = ({ r, g, b }) => {
    const linear = (v) => {
      const c = v / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const background = (el) => {
    for (let node = el; node && node.nodeType === Node.ELEMENT_NODE; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color && color.a > 0) return color;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg, option, [aria-disabled="true"], :disabled') || !shown(el)) continue;
    const ownText = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
    if (!ownText) continue;
    const style = getComputedStyle(el);
    const fg = parse(style.color);
    const bg = background(el);
    if (!fg) continue;
    const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`${describe(el)} text contrast ${ratio.toFixed(2)}:1`);
  }

  // -- phone widths: nothing wider than the screen, targets big enough --
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    problems.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px > ${window.innerWidth}px`);
  }
  for (const el of document.querySelectorAll('button, input, select, summary')) {
    if (!shown(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 24 || box.height < 24) problems.push(`${describe(el)} target is ${box.width}x${box.height}px`);
  }
  return problems;
}
