import {input, number, password, select} from '@inquirer/prompts'

/** The questions init asks; the real one is @inquirer/prompts, tests may answer from a table. */
export interface Prompter {
  text(message: string, defaultValue?: string, validate?: (v: string) => true | string): Promise<string>
  number(message: string, defaultValue: number): Promise<number>
  secret(message: string): Promise<string>
  choose<T extends string>(message: string, choices: Array<{value: T; name: string; description?: string}>, defaultValue: T): Promise<T>
}

export const terminalPrompter: Prompter = {
  text: (message, defaultValue, validate) => input({message, ...(defaultValue === undefined ? {} : {default: defaultValue}), ...(validate ? {validate} : {})}),
  number: async (message, defaultValue) =>
    (await number({message, default: defaultValue, required: true, min: 1, max: 65_535})) ?? defaultValue,
  secret: (message) => password({message, mask: '*'}),
  choose: (message, choices, defaultValue) => select({message, choices, default: defaultValue}),
}
