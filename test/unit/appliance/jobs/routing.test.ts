import {describe, expect, it} from 'vitest'

import {describeJob} from '../../../../appliance/admin/jobs.js'
import {allQueues, jobTypeOfQueue, queuesOf} from '../../../../appliance/jobs/catalog.js'
import {workerCapabilities} from '../../../../appliance/jobs/workers.js'
import {servesQueue} from '../../../../appliance/worker/job-runner.js'
import {renderJobsSummary} from '../../../../src/render/jobs.js'

describe('worker capabilities', () => {
  it('come from the profile: every worker runs general and CPU video jobs; a GPU profile adds its GPU', () => {
    expect(workerCapabilities('x264')).toEqual(['general', 'video-cpu'])
    expect(workerCapabilities('nvenc')).toEqual(['general', 'video-cpu', 'video-gpu-nvenc'])
    expect(workerCapabilities('vaapi')).toContain('video-gpu-vaapi')
  })

  it('SHING_WORKER_CAPABILITIES replaces them, and an unknown one is named', () => {
    expect(workerCapabilities('x264', 'general')).toEqual(['general'])
    expect(() => workerCapabilities('x264', 'general,video-gpu-cuda')).toThrow(/names video-gpu-cuda: known are general, video-cpu/)
  })
})

describe('queues', () => {
  it('a general job type has one queue; every queue names its type back', () => {
    expect(queuesOf('mail.send')).toEqual(['mail.send'])
    for (const queue of allQueues()) expect(jobTypeOfQueue(queue)).toBe(queue.replace(/@(gpu|cpu)$/, ''))
    expect(jobTypeOfQueue('mail.send@gpu')).toBeUndefined()
    expect(jobTypeOfQueue('nope')).toBeUndefined()
  })

  it('a worker serves the queues its capabilities allow', () => {
    expect(servesQueue('mail.send', ['general'])).toBe(true)
    expect(servesQueue('mail.send', ['video-cpu'])).toBe(false)
    const encode = allQueues().filter((q) => q.endsWith('@gpu'))
    for (const gpuQueue of encode) {
      const cpuQueue = gpuQueue.replace(/@gpu$/, '@cpu')
      expect(servesQueue(gpuQueue, ['general', 'video-cpu'])).toBe(false)
      expect(servesQueue(gpuQueue, ['video-gpu-nvenc'])).toBe(true)
      expect(servesQueue(cpuQueue, ['general', 'video-cpu'])).toBe(true)
      expect(servesQueue(cpuQueue, ['general'])).toBe(false)
    }
  })
})

describe('shing jobs', () => {
  it("never shows a mail's body (it holds log-in links)", () => {
    const about = describeJob('mail.send', {to: 'ana@example.test', subject: 'Log in', text: 'https://site/login?token=secret', html: '<a href="https://site/login?token=secret">'})
    expect(about).toBe('{"to":"a…@example.test","subject":"Log in"}')
    expect(describeJob('vod.delete', {channel: 'a', streamId: 'b'})).toBe('{"channel":"a","streamId":"b"}')
  })

  it('shows the busy queues, the workers and each failed job with its error and what to do', () => {
    const text = renderJobsSummary({
      queues: [
        {queue: 'mail.send', type: 'mail.send', counts: {waiting: 3, failed: 1, completed: 0}},
        {queue: 'vod.delete', type: 'vod.delete', counts: {waiting: 0}},
      ],
      workers: [{id: 'worker.1', capabilities: ['general', 'video-cpu'], concurrency: {general: 2, video: 1}, active: 1, heartbeatAt: '2026-12-06T10:00:00.000Z'}],
      failed: [{queue: 'mail.send', id: '7', attemptsMade: 8, failedReason: 'connect ECONNREFUSED', failedAt: '2026-12-06T09:00:00.000Z', about: '{"to":"a…@x"}'}],
    })
    expect(text).toContain('mail.send')
    expect(text).not.toContain('vod.delete')
    expect(text).toMatch(/QUEUE\s+WAITING\s+FAILED/)
    expect(text).toContain('worker.1  1 running  general, video-cpu')
    expect(text).toContain('error: connect ECONNREFUSED')
    expect(text).toContain('shing jobs retry <queue> <id>')
    expect(renderJobsSummary({queues: [], workers: [], failed: []})).toMatch(/No jobs in any queue\.\n\nNo worker is up/)
  })
})
