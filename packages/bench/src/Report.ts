/**
 * The results of a bench run and the text table they print as.
 */

export type Unit = "ns/call" | "bytes/key" | "% of a core" | "calls/s" | "round trips/call"

/** One measured figure. */
export interface Row {
  /** A stable identifier that other rows name as their baseline. */
  readonly id: string
  readonly name: string
  readonly value: number
  readonly unit: Unit
  /** The id of the row this one is divided by in the ratio column; a baseline row, and a row with no ratio, has none. */
  readonly baseline?: string | undefined
}

/** A group of rows under one heading, or the reason it was not measured. */
export interface Section {
  readonly title: string
  readonly rows: ReadonlyArray<Row>
  /** Set when the section measured nothing, with the reason printed in place of its rows. */
  readonly notMeasured?: string | undefined
}

/** Divides a row's figure by its baseline's; undefined for a row with no baseline or a baseline missing or zero. */
export const ratioOf = (row: Row, rows: ReadonlyMap<string, Row>): number | undefined => {
  if (row.baseline === undefined) return undefined
  const baseline = rows.get(row.baseline)
  if (baseline === undefined || baseline.value === 0) return undefined
  return row.value / baseline.value
}

export const indexRows = (sections: ReadonlyArray<Section>): ReadonlyMap<string, Row> =>
  new Map(sections.flatMap((section) => section.rows).map((row) => [row.id, row]))

const formatValue = (row: Row): string => {
  if (row.unit === "% of a core") return `${row.value.toFixed(row.value < 10 ? 2 : 1)} %`
  if (row.unit === "calls/s") return `${Math.round(row.value).toLocaleString("en-US")} /s`
  if (row.unit === "round trips/call") return `${row.value.toFixed(2)} RT`
  const digits = row.value < 10 ? 1 : 0
  return `${row.value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${
    row.unit === "ns/call" ? "ns" : "B/key"
  }`
}

/** Formats a ratio as the table and the targets print it, such as `1.91x` or `10.5x`. */
export const ratioText = (ratio: number): string => {
  // Two significant digits at least, so that a ratio far below 1 does not print as 0.00x.
  if (ratio < 0.1) return `${ratio.toPrecision(2)}x`
  return `${ratio.toFixed(ratio < 10 ? 2 : 1)}x`
}

const formatRatio = (row: Row, rows: ReadonlyMap<string, Row>, baselineIds: ReadonlySet<string>): string => {
  if (row.baseline === undefined) return baselineIds.has(row.id) ? "baseline" : ""
  const ratio = ratioOf(row, rows)
  return ratio === undefined ? "n/a" : ratioText(ratio)
}

/** Renders the sections as a plain-text table: row, median figure, ratio, and the baseline the ratio divides by. */
export const renderTable = (sections: ReadonlyArray<Section>): string => {
  const rows = indexRows(sections)
  const baselineIds = new Set([...rows.values()].flatMap((row) => (row.baseline === undefined ? [] : [row.baseline])))
  const lines: Array<Array<string>> = []
  const headings = new Set<number>()

  for (const section of sections) {
    headings.add(lines.length)
    lines.push([section.title])
    if (section.notMeasured !== undefined) {
      headings.add(lines.length)
      lines.push([`  ${section.notMeasured}`])
      continue
    }

    for (const row of section.rows) {
      const baseline = row.baseline === undefined ? undefined : rows.get(row.baseline)
      lines.push([`  ${row.name}`, formatValue(row), formatRatio(row, rows, baselineIds), baseline?.name ?? ""])
    }
  }

  const header = ["row", "median", "ratio", "ratio to"]
  const widths = header.map((title, column) =>
    Math.max(
      title.length,
      ...lines.filter((_, index) => !headings.has(index)).map((cells) => (cells[column] ?? "").length)
    )
  )
  const render = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, column) =>
        column === 1 || column === 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)
      )
      .join("  ")
      .trimEnd()

  return [
    render(header),
    render(widths.map((width) => "-".repeat(width))),
    ...lines.map((cells, index) => (headings.has(index) ? cells[0]! : render(cells)))
  ].join("\n")
}
