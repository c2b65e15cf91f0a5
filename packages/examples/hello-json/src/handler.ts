import { lmi } from '@lmi/core'
import { createHttpError, httpErrors, jsonBody, jsonResponse } from '@lmi/json'

/** The request body, checked by ajv before the handler runs; `as const` types `event.body`. */
const greetingRequest = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64 },
    language: { enum: ['en', 'fr', 'de', 'la'] },
  },
  required: ['name'],
  additionalProperties: false,
} as const

const greetings = { en: 'Hello', fr: 'Bonjour', de: 'Hallo' } as const

/** POST /greetings on an HTTP API: `{"name":"Ada","language":"fr"}` → `{"greeting":"Bonjour, Ada!"}`. */
export const handler = lmi()
  .use(httpErrors()) // first, so its onError sees every failure below
  .use(jsonResponse())
  .use(jsonBody({ schema: greetingRequest }))
  .handler(async (event, context) => {
    const { name, language = 'en' } = event.body
    if (language === 'la') throw createHttpError(501, 'Latin greetings are not implemented yet')
    return {
      greeting: `${greetings[language]}, ${name}!`,
      requestId: context.awsRequestId,
    }
  })
