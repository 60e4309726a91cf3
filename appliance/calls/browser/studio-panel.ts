// The studio's broadcast controls (a channel's studio page, /dashboard/c/<channel>/studio): the
// form is sent from here, so the host stays in the call while going live, changing the layout or
// ending the broadcast; the status follows what the server says (state.json, every few seconds).
interface StudioAnswer {
  live: boolean
  layout?: number
  tiles?: string[]
  status: string
  message?: string
}

const STATE_EVERY_MS = 5000

/** A guest's page: whether the studio is on the air now (the channel's playback API says so). */
function followOnAir(): void {
  const notice = document.getElementById('studio-guest')
  const badge = document.getElementById('studio-on-air')
  const playback = notice?.dataset.playback
  if (badge === null || playback === undefined) return
  const look = (): void => {
    if (document.hidden) return
    fetch(playback, {headers: {accept: 'application/json'}})
      .then(async (response) => {
        if (response.ok) badge.hidden = ((await response.json()) as {live?: boolean}).live !== true
      })
      .catch(() => undefined)
  }
  look()
  setInterval(look, STATE_EVERY_MS)
}

export function startStudioPanel(): void {
  followOnAir()
  const panel = document.getElementById('studio')
  const form = document.getElementById('studio-form') as HTMLFormElement | null
  if (panel === null || form === null) return
  const status = document.getElementById('studio-status')!
  const problem = document.getElementById('studio-problem')!
  const live = document.getElementById('studio-live') as HTMLButtonElement
  const layout = document.getElementById('studio-layout') as HTMLButtonElement
  const stop = document.getElementById('studio-stop') as HTMLButtonElement
  let busy = false

  const show = (answer: StudioAnswer): void => {
    panel.dataset.live = String(answer.live)
    status.textContent = answer.status
    live.hidden = answer.live
    layout.hidden = !answer.live
    stop.hidden = !answer.live
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault()
    if (busy) return
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null
    // (formAction without the attribute is the page's own address, not the form's.)
    const action = submitter?.hasAttribute('formaction') === true ? submitter.formAction : form.action
    busy = true
    problem.hidden = true
    for (const button of [live, layout, stop]) button.disabled = true
    status.textContent = submitter === stop ? 'Ending the broadcast…' : submitter === layout ? 'Changing the layout…' : 'Going live…'
    void (async () => {
      try {
        const response = await fetch(action, {method: 'POST', headers: {accept: 'application/json'}, body: new URLSearchParams(new FormData(form) as unknown as Record<string, string>)})
        const answer = (await response.json().catch(() => undefined)) as StudioAnswer | undefined
        if (answer === undefined) throw new Error(`The site did not answer as expected (${response.status}): try again.`)
        show(answer)
        if (!response.ok) throw new Error(answer.message ?? `The site refused (${response.status}).`)
        problem.hidden = true
      } catch (error) {
        problem.textContent = (error as Error).message
        problem.hidden = false
      } finally {
        busy = false
        for (const button of [live, layout, stop]) button.disabled = false
      }
    })()
  })

  // The broadcast may end without this page (the ingest, a moderator, everyone gone): it shows.
  const state = panel.dataset.state
  if (state !== undefined) {
    setInterval(() => {
      if (busy || document.hidden) return
      fetch(state, {headers: {accept: 'application/json'}})
        .then(async (response) => (response.ok ? show((await response.json()) as StudioAnswer) : undefined))
        .catch(() => undefined)
    }, STATE_EVERY_MS)
  }
}
