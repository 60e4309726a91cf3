import {input, number, password, select} from '@inquirer/prompts'

/** The questions init asks; the real one is @inquirer/prompts, tests may answer from a table. */
export interface Prompter {
  text(message: string, defaultValue?: string, validate?: (v: string) => true | string): Promise<string>
  /** A port-like number: min (default 1) to 65535. */
  number(message: string, defaultValue: number, min?: number): Promise<number>
  secret(message: string): Promise<string>
  choose<T extends string>(message: string, choices: Array<{value: T; name: string; description?: string}>, defaultValue: T): Promise<T>
}

export const terminalPrompter: Prompter = {
  text: (message, defaultValue, validate) => input({message, ...(defaultValue === undefined ? {} : {default: defaultValue}), ...(validate ? {validate} : {})}),
  number: async (message, defaultValue, min = 1) =>
    (await number({message, default: defaultValue, required: true, min, max: 65_535})) ?? defaultValue,
  secret: (message) => password({message, mask: '*'}),
  choose: (message, choices, defaultValue) => select({message, choices, default: defaultValue}),
}
