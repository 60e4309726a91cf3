import {readFileSync} from 'node:fs'
import path from 'node:path'
import YAML, {isMap, type Document} from 'yaml'

import {packageRoot} from '../lib/package-root.js'
import type {ShingConfig} from './schema.js'

/** The commented template (templates/shing.yaml) that every written shing.yaml starts from. */
export function configTemplate(): string {
  return readFileSync(path.join(packageRoot(), 'templates', 'shing.yaml'), 'utf8')
}

type Json = string | number | boolean | null | Json[] | {[key: string]: Json}

function isPlainObject(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Sets `value` at `keyPath`, keeping the template's comments on keys that stay. */
function apply(doc: Document, keyPath: string[], value: Json): void {
  const node = doc.getIn(keyPath, true)
  if (isPlainObject(value) && isMap(node)) {
    for (const item of [...node.items]) {
      const key = String((item.key as {value?: unknown}).value ?? item.key)
      if (!(key in value)) doc.deleteIn([...keyPath, key])
    }
    for (const [key, child] of Object.entries(value)) apply(doc, [...keyPath, key], child)
    return
  }
  doc.setIn(keyPath, doc.createNode(value, {flow: Array.isArray(value) || (isPlainObject(value) && Object.keys(value).length === 0)}))
}

/** Renders a config as the commented shing.yaml. */
export function renderConfig(config: ShingConfig, template = configTemplate()): string {
  const doc = YAML.parseDocument(template)
  apply(doc, [], JSON.parse(JSON.stringify(config)) as Json)
  return doc.toString({lineWidth: 100})
}
