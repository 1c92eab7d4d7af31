/** Strips the common indentation of a template literal, so YAML can be written inline in tests. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, "");
  const lines = text.split("\n");
  const indent = Math.min(
    ...lines.filter((l) => l.trim()).map((l) => (/^ */.exec(l) as RegExpExecArray)[0].length),
  );
  return `${lines
    .map((l) => l.slice(indent))
    .join("\n")
    .trimEnd()}\n`;
}
