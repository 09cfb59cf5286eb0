/**
 * CSV (RFC 4180) for the audit export. A cell that a spreadsheet would read as a formula (starting with = + - @,
 * tab or carriage return) is prefixed with a quote mark, so an audit subject an outsider chose cannot run in the
 * operator's spreadsheet (https://owasp.org/www-community/attacks/CSV_Injection).
 */
export function csvCell(value: string | number | undefined): string {
  let s = value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/u.test(s)) s = `'${s}`;
  return /[",\r\n]/u.test(s) ? `"${s.replace(/"/gu, '""')}"` : s;
}

export function csvRow(cells: readonly (string | number | undefined)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}
