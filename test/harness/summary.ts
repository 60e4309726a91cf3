/**
 * What an e2e script's last line sums up (npm run e2e:calls): each test file records its results
 * as key=value lines in the file SHING_E2E_SUMMARY names; the script prints the line from them.
 * Without the variable (the whole suite), nothing is written.
 */
import {appendFile} from 'node:fs/promises'

export async function recordSummary(fields: Record<string, string>): Promise<void> {
  const file = process.env.SHING_E2E_SUMMARY
  if (file === undefined || file === '') return
  await appendFile(file, Object.entries(fields).map(([key, value]) => `${key}=${value}\n`).join(''))
}
