import { createReadStream, createWriteStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { getInvocation, lmi } from '@lmi/core'
import { httpErrors, jsonBody } from '@lmi/json'
import { tmpScope } from '@lmi/tmp-scope'

const reportRequest = {
  type: 'object',
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 100 },
    columns: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 50 },
    rows: {
      type: 'array',
      maxItems: 10_000,
      items: { type: 'array', items: { type: ['string', 'number'] }, maxItems: 50 },
    },
  },
  required: ['title', 'columns', 'rows'],
  additionalProperties: false,
} as const

function csvField(value: string | number): string {
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

/**
 * POST /reports `{ title, columns, rows }` → the rows as a gzipped CSV download. The CSV and
 * its archive are written in this request's own directory (`context.tmp`), which no other
 * request can reach and which is removed once the response is out: 64 requests building
 * `report.csv` at once never see each other's file.
 */
export const handler = lmi()
  .use(httpErrors())
  .use(jsonBody({ schema: reportRequest }))
  .use(tmpScope({ root: process.env.REPORT_TMP_ROOT ?? '/tmp', scope: 'reports' }))
  .handler(async (event, context) => {
    const { title, columns, rows } = event.body
    const csvPath = context.tmp.path('report.csv')
    const archivePath = context.tmp.path('report.csv.gz')

    const lines = [columns, ...rows].map((row) => `${row.map(csvField).join(',')}\r\n`)
    await pipeline(lines, createWriteStream(csvPath))
    await pipeline(createReadStream(csvPath), createGzip(), createWriteStream(archivePath), {
      signal: getInvocation().signal, // stop at the deadline
    })
    const archive = await readFile(archivePath)

    const fileName = title.replace(/[^\w.-]+/g, '-').slice(0, 60) || 'report'
    return {
      statusCode: 200,
      headers: {
        'content-type': 'application/gzip',
        'content-disposition': `attachment; filename="${fileName}.csv.gz"`,
        'x-report-rows': String(rows.length),
      },
      body: archive.toString('base64'),
      isBase64Encoded: true,
    }
  })
