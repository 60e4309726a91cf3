import {describe, expect, it} from 'vitest'

import {BACKUP_MOUNT, backupId, imagePaths} from '../../../appliance/contract/index.js'
import {seal, unseal} from '../../../src/backup/seal.js'
import {TASK_LABEL, taskSpec} from '../../../src/backup/task.js'
import type {ContainerTaskSpec, ServiceInfo} from '../../../src/engine/engine.js'
import {AbortError} from '../../../src/errors.js'

describe('the sealed config', () => {
  const files = {'shing.yaml': 'version: 1\n', 'shing.secrets.yaml': 'mongoRootPassword: s3cr3t-value\n'}

  it('opens with its passphrase, and holds no secret in plain text', async () => {
    const sealed = await seal(files, 'correct horse battery staple')
    expect(sealed).not.toContain('s3cr3t-value')
    expect(sealed).not.toContain('mongoRootPassword')
    expect(await unseal(sealed, 'correct horse battery staple')).toEqual(files)
  })

  it('a wrong passphrase or a changed byte is refused with what to do', async () => {
    const sealed = await seal(files, 'correct horse battery staple')
    await expect(unseal(sealed, 'correct horse battery stapler')).rejects.toThrow(/passphrase does not open/)
    const doc = JSON.parse(sealed) as {data: string}
    const data = Buffer.from(doc.data, 'base64')
    data[0] = data[0]! ^ 1
    await expect(unseal(JSON.stringify({...doc, data: data.toString('base64')}), 'correct horse battery staple')).rejects.toBeInstanceOf(AbortError)
    await expect(unseal('not json', 'x')).rejects.toThrow(/not one this version of Shing reads/)
  })
})

describe('the backup task spec', () => {
  const web = {
    id: 'w',
    name: 'shing_web',
    labels: {'io.shing.stack': 'shing', 'io.shing.component': 'web'},
    version: 3,
    running: 2,
    desired: 2,
    publishedPorts: [],
    spec: {
      Name: 'shing_web',
      Labels: {'io.shing.stack': 'shing'},
      TaskTemplate: {
        ContainerSpec: {
          Image: 'shing/appliance:0.1.0',
          Args: ['web'],
          Env: ['SHING_COMPONENT=web', 'SHING_BACKUP_REQUEST=old'],
          Labels: {'io.shing.stack': 'shing', 'io.shing.component': 'web'},
          Secrets: [{SecretID: 's1', SecretName: 'shing_redis_password_ab', File: {Name: 'shing_redis_password', UID: '0', GID: '0', Mode: 0o444}}],
        },
        Networks: [{Target: 'shing_net', Aliases: ['web']}],
        Placement: {Constraints: ['node.labels.io.shing.role.web==true']},
      },
      Mode: {Replicated: {Replicas: 2}},
      EndpointSpec: {Mode: 'dnsrr', Ports: [{TargetPort: 80}]},
    },
  } as unknown as ServiceInfo

  it("runs once, on this box, as root, with the web's image, secrets and network and the folder mounted; up does not take it for its own", () => {
    const id = backupId(new Date('2026-12-07T23:00:00.123Z'))
    expect(id).toBe('20261207T230000Z')
    const spec = taskSpec(web, {name: 'shing_backup_x', kind: 'backup', nodeId: 'node1', hostDir: '/var/backups/shing', request: {operation: 'backup', id, version: '0.1.0'}})
    const task = spec.TaskTemplate as ContainerTaskSpec
    expect(spec.Mode).toEqual({ReplicatedJob: {MaxConcurrent: 1, TotalCompletions: 1}})
    expect(spec.Labels).toEqual({[TASK_LABEL]: 'backup'})
    expect(spec.EndpointSpec).toBeUndefined()
    expect(task.RestartPolicy?.Condition).toBe('none')
    expect(task.Placement?.Constraints).toEqual(['node.id==node1'])
    expect(task.Networks).toEqual([{Target: 'shing_net', Aliases: ['web']}])
    expect(task.ContainerSpec).toMatchObject({
      Image: 'shing/appliance:0.1.0',
      Command: ['node', imagePaths.backup],
      Args: [],
      User: 'root',
      Labels: {[TASK_LABEL]: 'backup'},
      Mounts: [{Type: 'bind', Source: '/var/backups/shing', Target: BACKUP_MOUNT}],
      Secrets: [{SecretID: 's1', SecretName: 'shing_redis_password_ab'}],
    })
    expect(task.ContainerSpec?.Env).toEqual(['SHING_COMPONENT=web', `SHING_BACKUP_REQUEST={"operation":"backup","id":"${id}","version":"0.1.0"}`, `SHING_BACKUP_DIR=${BACKUP_MOUNT}`])
  })
})
