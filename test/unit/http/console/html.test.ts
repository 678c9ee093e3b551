import { Html, escapeHtml, html } from '../../../../src/http/console/html';

describe('console html tagged template', () => {
  it('escapes every interpolated string, so a sender value cannot become markup', () => {
    const controlId = `"><script>alert('x')</script>&`;
    expect(html`<td title="${controlId}">${controlId}</td>`.value).toBe(
      '<td title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</td>',
    );
  });

  it('keeps nested fragments as markup, joins arrays, renders null, undefined and false as nothing, numbers as text', () => {
    const rows = ['a<b', 'c'].map((t) => html`<li>${t}</li>`);
    expect(html`<ul>${rows}</ul>${null}${undefined}${false}${0}`.value).toBe('<ul><li>a&lt;b</li><li>c</li></ul>0');
    expect(html`${new Html('<b>raw</b>')}`.value).toBe('<b>raw</b>');
    expect(escapeHtml(`&<>"'`)).toBe('&amp;&lt;&gt;&quot;&#39;');
  });
});
