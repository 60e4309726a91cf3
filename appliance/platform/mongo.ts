import {MongoClient, type Db} from 'mongodb'

import {MONGO_DATABASE, MONGO_USER} from '../contract/index.js'

export interface MongoConnection {
  client: MongoClient
  db: Db
  /** Throws unless the server answers a ping. */
  ping(): Promise<void>
  close(): Promise<void>
}

/** mongodb://root:<pw>@<host>/shing?authSource=admin (the bundled MongoDB's root user). */
export function mongoUrl(host: string, password: string): string {
  return `mongodb://${MONGO_USER}:${encodeURIComponent(password)}@${host}/${MONGO_DATABASE}?authSource=admin`
}

/**
 * The driver connects lazily and reconnects by itself; short selection timeouts keep a ping (the
 * health check) from hanging while MongoDB is away.
 */
export function connectMongo(host: string, password: string, appName: string): MongoConnection {
  const client = new MongoClient(mongoUrl(host, password), {
    appName,
    serverSelectionTimeoutMS: 2500,
    connectTimeoutMS: 2500,
  })
  const db = client.db(MONGO_DATABASE)
  return {
    client,
    db,
    ping: async () => {
      const answer = await db.command({ping: 1})
      if (answer.ok !== 1) throw new Error(`ping answered ${JSON.stringify(answer)}`)
    },
    close: () => client.close(),
  }
}
