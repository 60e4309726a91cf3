/** The appliance's components, their ports inside the container, and where the image keeps them. */
export const componentNames = ['web', 'ingest', 'relay', 'sfu', 'worker'] as const
export type ComponentName = (typeof componentNames)[number]

/** Ports inside the container. `http` serves /healthz and /metrics (and the app, for web). */
export const componentPorts: {[K in ComponentName]: {http: number; rtmp?: number}} = {
  web: {http: 8080},
  ingest: {http: 8081, rtmp: 1935},
  relay: {http: 8082},
  sfu: {http: 8083},
  worker: {http: 8084},
}

export const HEALTH_PATH = '/healthz'
export const METRICS_PATH = '/metrics'

/** The image's layout (appliance/Dockerfile): the app under /app, the appliance built to appliance/dist. */
export const imagePaths = {
  app: '/app',
  main: '/app/appliance/dist/main.js',
  admin: '/app/appliance/dist/admin.js',
  healthcheck: '/app/appliance/dist/healthcheck.js',
  backup: '/app/appliance/dist/backup.js',
} as const
