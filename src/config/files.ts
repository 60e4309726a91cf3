import path from 'node:path'

export const CONFIG_FILE = 'shing.yaml'
export const SECRETS_FILE = 'shing.secrets.yaml'

export function configPaths(dir: string): {dir: string; config: string; secrets: string} {
  return {dir, config: path.join(dir, CONFIG_FILE), secrets: path.join(dir, SECRETS_FILE)}
}
