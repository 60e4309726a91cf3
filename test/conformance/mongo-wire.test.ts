import {MongoClient, MongoServerError} from 'mongodb'
import {expect, it} from 'vitest'

import {startMongoWire} from '../harness/mongo-wire.js'
import {markReal} from '../harness/real-part.js'

interface Stream {
  key: string
  title: string
  viewers: number
}

it('mongo-wire', async (ctx) => {
  const started = performance.now()
  const server = await startMongoWire()
  console.log(`timing: ferretdb ready (driver ping answered) in ${Math.round(performance.now() - started)} ms`)
  const client = new MongoClient(server.url, {serverSelectionTimeoutMS: 5000})
  try {
    const streams = client.db('shing').collection<Stream>('streams')

    const inserted = await streams.insertOne({key: 'alice', title: 'first', viewers: 0})
    expect(inserted.acknowledged).toBe(true)
    expect(await streams.findOne({key: 'alice'}, {projection: {_id: 0}})).toEqual({key: 'alice', title: 'first', viewers: 0})

    const updated = await streams.updateOne({key: 'alice'}, {$set: {title: 'live'}, $inc: {viewers: 3}})
    expect(updated.modifiedCount).toBe(1)
    expect(await streams.findOne({key: 'alice'}, {projection: {_id: 0}})).toEqual({key: 'alice', title: 'live', viewers: 3})

    // A unique index must reject a second document with the same key, as MongoDB does (E11000).
    await streams.createIndex({key: 1}, {unique: true})
    const duplicate = await streams.insertOne({key: 'alice', title: 'again', viewers: 0}).then(
      () => undefined,
      (error: unknown) => error,
    )
    expect(duplicate).toBeInstanceOf(MongoServerError)
    expect((duplicate as MongoServerError).code).toBe(11000)
    expect(await streams.countDocuments({key: 'alice'})).toBe(1)

    markReal(ctx, 'mongo-wire', server.version)
  } finally {
    await client.close()
    await server.stop()
  }
})
