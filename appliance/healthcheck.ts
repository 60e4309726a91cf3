/**
 * The container's HEALTHCHECK: GET http://127.0.0.1:<port>/healthz, exit 0 on 200, else 1, within 3 s.
 * It reads only what it needs (SHING_COMPONENT, SHING_HTTP_PORT): a healthcheck must not fail
 * because of an unrelated variable.
 */
import {HEALTH_PATH, componentNames, componentPorts, type ComponentName} from './contract/index.js'

const TIMEOUT_MS = 3000

function fail(message: string): never {
  process.stderr.write(`healthcheck: ${message}\n`)
  process.exit(1)
}

async function main(): Promise<void> {
  const component = process.argv[2] ?? process.env.SHING_COMPONENT
  if (component === undefined || !(componentNames as readonly string[]).includes(component)) {
    fail(`SHING_COMPONENT is ${component === undefined ? 'not set' : `"${component}", not one of ${componentNames.join(', ')}`}`)
  }
  const override = process.env.SHING_HTTP_PORT
  const port = override === undefined || override === '' ? componentPorts[component as ComponentName].http : Number(override)
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`SHING_HTTP_PORT is not a port: ${override}`)
  const url = `http://127.0.0.1:${port}${HEALTH_PATH}`
  let response: Response
  try {
    response = await fetch(url, {signal: AbortSignal.timeout(TIMEOUT_MS)})
  } catch (error) {
    fail(`${url}: ${(error as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : (error as Error).message}`)
  }
  const body = await response.text().catch(() => '')
  if (response.status !== 200) fail(`${url} answered ${response.status}: ${body.slice(0, 500)}`)
  process.stdout.write(`${body}\n`)
  process.exit(0)
}

await main()
