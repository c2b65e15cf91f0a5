// Reading and checking the examples' SAM templates: YAML with CloudFormation's short-form
// intrinsics, the official SAM JSON schema (draft-04, through ajv-draft-04), and the checks a
// schema cannot make (references resolve, handler files exist, LMI settings are in range).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import AjvDraft04, { type ErrorObject, type ValidateFunction } from 'ajv-draft-04'
import { parse, type Tags } from 'yaml'
import { samEsbuildArgs } from './build.ts'

/** A template as CloudFormation sees it: short-form tags turned into their long forms. */
export interface Template {
  AWSTemplateFormatVersion?: string
  Transform?: string | string[]
  Parameters?: Record<string, { Type: string; Default?: unknown; AllowedValues?: unknown[] }>
  Conditions?: Record<string, unknown>
  Globals?: Record<string, Record<string, unknown>>
  Resources: Record<string, Resource>
  Outputs?: Record<string, { Value: unknown; Condition?: string }>
}

export interface Resource {
  Type: string
  Condition?: string
  Metadata?: Record<string, unknown>
  Properties?: Record<string, unknown>
}

const SHORT_FORMS: Record<string, string> = {
  Base64: 'Fn::Base64',
  Cidr: 'Fn::Cidr',
  FindInMap: 'Fn::FindInMap',
  GetAtt: 'Fn::GetAtt',
  GetAZs: 'Fn::GetAZs',
  ImportValue: 'Fn::ImportValue',
  Join: 'Fn::Join',
  Select: 'Fn::Select',
  Split: 'Fn::Split',
  Sub: 'Fn::Sub',
  Transform: 'Fn::Transform',
  And: 'Fn::And',
  Equals: 'Fn::Equals',
  If: 'Fn::If',
  Not: 'Fn::Not',
  Or: 'Fn::Or',
  Ref: 'Ref',
  Condition: 'Condition',
}

// `!GetAtt A.B` is `{ "Fn::GetAtt": ["A", "B"] }`; every other scalar form keeps its string.
function longForm(name: string, value: unknown): Record<string, unknown> {
  if (name === 'GetAtt' && typeof value === 'string') return { 'Fn::GetAtt': splitGetAtt(value) }
  return { [SHORT_FORMS[name] as string]: value }
}

const cloudFormationTags: Tags = Object.keys(SHORT_FORMS).flatMap((name) => [
  { tag: `!${name}`, resolve: (value: string) => longForm(name, value) },
  {
    tag: `!${name}`,
    collection: 'seq' as const,
    resolve: (seq: { toJSON(): unknown }) => longForm(name, seq.toJSON()),
  },
  {
    tag: `!${name}`,
    collection: 'map' as const,
    resolve: (map: { toJSON(): unknown }) => longForm(name, map.toJSON()),
  },
])

/** Parses a SAM template (YAML, short-form intrinsics allowed). */
export function parseTemplate(text: string): Template {
  return parse(text, { customTags: cloudFormationTags, uniqueKeys: true }) as Template
}

/** Reads and parses `<dir>/template.yaml`. */
export function loadTemplate(dir: string): Template {
  return parseTemplate(readFileSync(join(dir, 'template.yaml'), 'utf8'))
}

/** The official SAM schema, compiled, with a validator per resource type. */
export interface SamSchema {
  validate: ValidateFunction
  /** `AWS::Serverless::Function` → the schema's definition of that resource. */
  byType: Map<string, ValidateFunction>
}

/**
 * Compiles the official SAM schema (JSON Schema draft-04, so `ajv-draft-04`). Intrinsics pass
 * as they do in `sam validate`: the schema accepts an object wherever a value may be one.
 */
export function compileSamSchema(schemaPath: string): SamSchema {
  const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as {
    definitions: Record<string, { properties?: { Type?: { enum?: string[] } } }>
  }
  // A CommonJS module whose `module.exports` is the class itself (its types say `default`).
  const Ajv = AjvDraft04 as unknown as typeof AjvDraft04.default
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false })
  ajv.addSchema(schema, 'sam')
  const byType = new Map<string, ValidateFunction>()
  for (const [name, definition] of Object.entries(schema.definitions)) {
    const types = definition.properties?.Type?.enum
    if (types?.length === 1 && name.endsWith('Resource') && !byType.has(types[0] as string)) {
      byType.set(types[0] as string, ajv.getSchema(`sam#/definitions/${name}`) as ValidateFunction)
    }
  }
  return { validate: ajv.getSchema('sam') as ValidateFunction, byType }
}

/**
 * Why the template fails the schema, or nothing. The whole-template verdict is the schema's;
 * the messages come from validating each resource against its own type's definition, since
 * the template-level `anyOf` over every resource type reports one error per wrong branch.
 */
export function schemaErrors(schema: SamSchema, template: Template): string[] {
  const valid: boolean = schema.validate(template)
  if (valid) return []
  const messages: string[] = []
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    const validate = schema.byType.get(resource.Type)
    const resourceValid: boolean = validate === undefined || validate(resource)
    if (resourceValid || validate === undefined) continue
    const errors = ((validate.errors ?? []) as ErrorObject[]).filter((e) => e.keyword !== 'anyOf')
    const depth = (error: ErrorObject) => error.instancePath.split('/').length
    const shallowest = Math.min(...errors.map(depth))
    for (const error of errors.filter((e) => depth(e) === shallowest)) {
      const extra =
        error.keyword === 'additionalProperties'
          ? `: ${(error.params as { additionalProperty: string }).additionalProperty}`
          : ''
      messages.push(
        `/Resources/${id}${error.instancePath} ${error.message ?? error.keyword}${extra}`,
      )
    }
  }
  if (messages.length === 0) {
    for (const error of (schema.validate.errors ?? []) as ErrorObject[]) {
      if (error.instancePath.split('/').length <= 3)
        messages.push(`${error.instancePath || '/'} ${error.message}`)
    }
  }
  return [...new Set(messages)]
}

const PSEUDO_PARAMETERS = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
])

/** Every `Ref`, `Fn::GetAtt`, `Fn::Sub` name and `Condition` that names nothing. */
function danglingReferences(template: Template): string[] {
  const problems: string[] = []
  const parameters = new Set(Object.keys(template.Parameters ?? {}))
  const resources = new Set(Object.keys(template.Resources))
  const conditions = new Set(Object.keys(template.Conditions ?? {}))
  // What SAM generates: the implicit APIs, a function's Role/Url/Alias resources (and the
  // `!Ref <Function>.Alias` / `.Version` forms).
  const generated = (name: string) =>
    name === 'ServerlessHttpApi' ||
    name === 'ServerlessRestApi' ||
    resources.has(name.replace(/(Role|Url|Alias\w*|\.Alias|\.Version)$/, ''))
  const known = (name: string) =>
    parameters.has(name) || resources.has(name) || PSEUDO_PARAMETERS.has(name) || generated(name)
  const visit = (node: unknown, at: string): void => {
    if (Array.isArray(node)) {
      for (const [index, item] of node.entries()) visit(item, `${at}/${index}`)
      return
    }
    if (typeof node !== 'object' || node === null) return
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Ref' && typeof value === 'string' && !known(value)) {
        problems.push(`${at}: Ref to unknown ${value}`)
      } else if (key === 'Fn::GetAtt' && (Array.isArray(value) || typeof value === 'string')) {
        const [name] = typeof value === 'string' ? splitGetAtt(value) : (value as string[])
        // SAM generates some resources (a function's alias: `<Function>.Alias`, `<Function>Url`).
        if (typeof name === 'string' && !known(name)) {
          problems.push(`${at}: Fn::GetAtt on unknown ${name}`)
        }
      } else if (key === 'Fn::Sub') {
        const text = Array.isArray(value) ? value[0] : value
        for (const [, name] of String(text).matchAll(/\$\{([^!}][^}]*)\}/g)) {
          const base = (name as string).split('.')[0] as string
          const locals = Array.isArray(value) ? Object.keys(value[1] ?? {}) : []
          if (!known(base) && !locals.includes(base)) {
            problems.push(`${at}: Fn::Sub names unknown ${name}`)
          }
        }
      } else if ((key === 'Condition' || key === 'Fn::If') && value !== undefined) {
        const name = key === 'Condition' ? value : (value as unknown[])[0]
        if (typeof name === 'string' && !conditions.has(name)) {
          problems.push(`${at}: unknown condition ${name}`)
        }
      }
      visit(value, `${at}/${key}`)
    }
  }
  visit(template.Resources, '/Resources')
  visit(template.Outputs, '/Outputs')
  visit(template.Conditions, '/Conditions')
  return problems
}

/** What a function is built from and how Lambda finds its handler. */
export interface FunctionBuild {
  logicalId: string
  /** Absolute path of CodeUri. */
  codeDir: string
  /** `Metadata.BuildProperties` as written. */
  buildProperties: Record<string, unknown>
  /** `Handler`: `file.export`. */
  handler: string
  /** The file esbuild writes for the handler's module, relative to the artifact root. */
  handlerFile: string
  properties: Record<string, unknown>
}

/** The esbuild-built functions of a template. */
export function functionBuilds(dir: string, template: Template): FunctionBuild[] {
  const globals = template.Globals?.Function ?? {}
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Serverless::Function')
    .map(([logicalId, resource]) => {
      const properties = { ...globals, ...resource.Properties }
      const buildProperties = (resource.Metadata?.BuildProperties ?? {}) as Record<string, unknown>
      const handler = String(properties.Handler)
      const extension = outExtension(buildProperties)
      return {
        logicalId,
        codeDir: resolve(dir, String(properties.CodeUri ?? '.')),
        buildProperties,
        handler,
        handlerFile: `${handler.slice(0, handler.lastIndexOf('.'))}${extension}`,
        properties,
      }
    })
}

/** The output extension esbuild gives `.js` files under these BuildProperties. */
export function outExtension(buildProperties: Record<string, unknown>): string {
  const mapping = ((buildProperties.OutExtension as string[] | undefined) ?? []).find((item) =>
    item.startsWith('.js='),
  )
  return mapping === undefined ? '.js' : mapping.slice('.js='.length)
}

/** `[resource, attribute]` of a GetAtt in either long form, or undefined for anything else. */
function getAttTarget(value: unknown): string[] | undefined {
  const getAtt = (value as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt']
  if (typeof getAtt === 'string') return splitGetAtt(getAtt)
  return Array.isArray(getAtt) ? (getAtt as string[]) : undefined
}

/** `A.B.C` → `['A', 'B.C']`, `A` → `['A']`: the list form of a GetAtt written as a string. */
function splitGetAtt(value: string): string[] {
  const dot = value.indexOf('.')
  return dot === -1 ? [value] : [value.slice(0, dot), value.slice(dot + 1)]
}

/**
 * What makes an example's template wrong for Lambda Managed Instances or for this repository,
 * beyond the schema: each problem a sentence, none when the template is right.
 */
export function templateProblems(dir: string, template: Template): string[] {
  const problems = danglingReferences(template)
  const resources = template.Resources
  const providers = Object.entries(resources).filter(
    ([, resource]) => resource.Type === 'AWS::Serverless::CapacityProvider',
  )
  if (providers.length === 0) problems.push('no AWS::Serverless::CapacityProvider')
  for (const [id, provider] of providers) {
    const vpc = provider.Properties?.VpcConfig as Record<string, unknown> | undefined
    for (const key of ['SubnetIds', 'SecurityGroupIds']) {
      const ref = (vpc?.[key] as { Ref?: string } | undefined)?.Ref
      const type = ref === undefined ? undefined : template.Parameters?.[ref]?.Type
      const expected =
        key === 'SubnetIds' ? 'List<AWS::EC2::Subnet::Id>' : 'List<AWS::EC2::SecurityGroup::Id>'
      if (type !== expected) problems.push(`${id}: VpcConfig.${key} is not a ${expected} parameter`)
    }
    if (provider.Properties?.ScalingConfig === undefined) problems.push(`${id}: no ScalingConfig`)
  }
  const builds = functionBuilds(dir, template)
  if (builds.length === 0) problems.push('no AWS::Serverless::Function')
  for (const fn of builds) {
    const { logicalId: id, properties: p } = fn
    if (p.Runtime !== 'nodejs24.x')
      problems.push(`${id}: Runtime is ${String(p.Runtime)}, not nodejs24.x`)
    // LMI runs published versions: without an alias nothing is published.
    if (typeof p.AutoPublishAlias !== 'string' || !/^[A-Za-z0-9_-]+$/.test(p.AutoPublishAlias)) {
      problems.push(`${id}: no AutoPublishAlias`)
    }
    const config = p.CapacityProviderConfig as Record<string, unknown> | undefined
    const [providerId = '', attribute] = getAttTarget(config?.Arn) ?? []
    const provider = resources[providerId]
    if (attribute !== 'Arn' || provider?.Type !== 'AWS::Serverless::CapacityProvider') {
      problems.push(
        `${id}: CapacityProviderConfig.Arn is not !GetAtt <a capacity provider here>.Arn`,
      )
    }
    // The function runs on the capacity provider's instances: same instruction set.
    const instanceArchitectures = (
      provider?.Properties?.InstanceRequirements as { Architectures?: unknown } | undefined
    )?.Architectures ?? ['x86_64']
    const architectures = p.Architectures ?? ['x86_64']
    if (JSON.stringify(architectures) !== JSON.stringify(instanceArchitectures)) {
      problems.push(
        `${id}: Architectures ${JSON.stringify(architectures)} differ from the capacity provider's ${JSON.stringify(instanceArchitectures)}`,
      )
    }
    const concurrency = config?.PerExecutionEnvironmentMaxConcurrency
    if (
      !Number.isInteger(concurrency) ||
      (concurrency as number) < 1 ||
      (concurrency as number) > 1600
    ) {
      problems.push(`${id}: PerExecutionEnvironmentMaxConcurrency must be an integer in 1..1600`)
    }
    const ratio = config?.ExecutionEnvironmentMemoryGiBPerVCpu
    if (ratio !== 2 && ratio !== 4 && ratio !== 8) {
      problems.push(`${id}: ExecutionEnvironmentMemoryGiBPerVCpu must be 2, 4 or 8`)
    }
    const memory = p.MemorySize
    if (
      typeof memory !== 'number' ||
      memory < 2048 ||
      (typeof ratio === 'number' && memory < ratio * 1024)
    ) {
      problems.push(`${id}: MemorySize must be at least 2048 and one vCPU's worth (ratio × 1024)`)
    }
    if (!existsSync(fn.codeDir) || !statSync(fn.codeDir).isDirectory()) {
      problems.push(`${id}: CodeUri ${String(p.CodeUri)} is not a directory`)
      continue
    }
    const metadata = resources[id]?.Metadata
    if (metadata?.BuildMethod !== 'esbuild')
      problems.push(`${id}: Metadata.BuildMethod is not esbuild`)
    const entries = fn.buildProperties.EntryPoints
    if (!Array.isArray(entries) || entries.length === 0) {
      problems.push(`${id}: no BuildProperties.EntryPoints`)
      continue
    }
    for (const entry of entries as string[]) {
      if (!existsSync(join(fn.codeDir, entry)))
        problems.push(`${id}: entry point ${entry} not found in CodeUri`)
    }
    const dot = fn.handler.lastIndexOf('.')
    const built = (entries as string[]).map((entry) => basename(entry, extname(entry)))
    if (dot <= 0 || dot === fn.handler.length - 1 || !built.includes(fn.handler.slice(0, dot))) {
      problems.push(`${id}: Handler ${fn.handler} is not <an entry point's name>.<export>`)
    }
    // No package.json ships with the bundle: Node tells ESM from CommonJS by extension.
    const format = fn.buildProperties.Format ?? 'cjs' // SAM's default
    const extension = outExtension(fn.buildProperties)
    if (format === 'esm' && extension !== '.mjs') {
      problems.push(`${id}: an esm bundle must be .mjs (OutExtension .js=.mjs)`)
    } else if (format === 'cjs' && extension === '.mjs') {
      problems.push(`${id}: a cjs bundle must not be .mjs`)
    }
    try {
      samEsbuildArgs(fn.buildProperties, fn.codeDir, '.aws-sam')
    } catch (error) {
      problems.push(`${id}: ${(error as Error).message}`)
    }
    problems.push(...layerProblems(dir, template, fn))
  }
  return problems
}

/** `!If [C, value, !Ref AWS::NoValue]` → `{ condition: C, value }`; anything else is unconditional. */
function conditional(node: unknown): { condition: string | undefined; value: unknown } {
  const branches = (node as { 'Fn::If'?: unknown } | undefined)?.['Fn::If']
  if (
    Array.isArray(branches) &&
    branches.length === 3 &&
    (branches[2] as { Ref?: unknown } | undefined)?.Ref === 'AWS::NoValue'
  ) {
    return { condition: String(branches[0]), value: branches[1] }
  }
  return { condition: undefined, value: node }
}

/** The function runs on lmi's runtime through the layer's exec wrapper, when asked to. */
function layerProblems(dir: string, template: Template, fn: FunctionBuild): string[] {
  const problems: string[] = []
  const layer = template.Resources.LmiRuntimeLayer
  if (layer?.Type !== 'AWS::Serverless::LayerVersion')
    return [`${fn.logicalId}: no LmiRuntimeLayer`]
  if (layer.Metadata?.BuildMethod !== 'makefile')
    problems.push('LmiRuntimeLayer: BuildMethod is not makefile')
  const contentDir = join(dir, String(layer.Properties?.ContentUri))
  const makefile = join(contentDir, 'Makefile')
  if (!existsSync(makefile) || !readFileSync(makefile, 'utf8').includes('build-LmiRuntimeLayer:')) {
    problems.push(`LmiRuntimeLayer: ${makefile} has no build-LmiRuntimeLayer target`)
  }
  // The wrapper and the layer that holds it come together: both always, or both under the
  // same condition (a wrapper without its layer is a function that cannot start).
  const variables = (
    fn.properties.Environment as { Variables?: Record<string, unknown> } | undefined
  )?.Variables
  const wrapper = conditional(variables?.AWS_LAMBDA_EXEC_WRAPPER)
  const layers = conditional(fn.properties.Layers)
  if (wrapper.value !== '/opt/lmi/exec-wrapper') {
    problems.push(`${fn.logicalId}: AWS_LAMBDA_EXEC_WRAPPER is not /opt/lmi/exec-wrapper`)
  }
  const withLayer =
    Array.isArray(layers.value) &&
    layers.value.some((layer) => (layer as { Ref?: unknown }).Ref === 'LmiRuntimeLayer')
  if (!withLayer) problems.push(`${fn.logicalId}: Layers does not include LmiRuntimeLayer`)
  if (wrapper.condition !== layers.condition) {
    problems.push(
      `${fn.logicalId}: AWS_LAMBDA_EXEC_WRAPPER and Layers are not under the same condition`,
    )
  }
  return problems
}

/** `dir/events/*.json`, parsed, by file name. */
export function loadEvents(dir: string): Map<string, unknown> {
  const eventsDir = join(dir, 'events')
  const events = new Map<string, unknown>()
  for (const file of readdirSync(eventsDir).sort()) {
    if (file.endsWith('.json'))
      events.set(file, JSON.parse(readFileSync(join(eventsDir, file), 'utf8')))
  }
  return events
}

/**
 * Events that no event source of the template would deliver: an HTTP API (payload v2) event
 * whose `routeKey` is no `HttpApi` route, a REST event whose method and resource are no `Api`
 * route, a Function URL event for a function without one, or an HTTP event for a function
 * that is only invoked directly.
 */
export function eventProblems(
  template: Template,
  events: Map<string, unknown>,
  logicalId: string,
): string[] {
  const fn = template.Resources[logicalId]
  const sources = Object.values(
    (fn?.Properties?.Events ?? {}) as Record<
      string,
      { Type: string; Properties?: Record<string, unknown> }
    >,
  )
  const httpApiRoutes = new Set(
    sources
      .filter((s) => s.Type === 'HttpApi')
      .map((s) => `${String(s.Properties?.Method).toUpperCase()} ${String(s.Properties?.Path)}`),
  )
  const restRoutes = new Set(
    sources
      .filter((s) => s.Type === 'Api')
      .map((s) => `${String(s.Properties?.Method).toUpperCase()} ${String(s.Properties?.Path)}`),
  )
  const hasUrl = fn?.Properties?.FunctionUrlConfig !== undefined
  const problems: string[] = []
  for (const [file, event] of events) {
    const e = event as Record<string, unknown> & { requestContext?: Record<string, unknown> }
    if (
      e.version === '2.0' &&
      e.routeKey === '$default' &&
      e.requestContext?.domainName?.toString().includes('.lambda-url.')
    ) {
      if (!hasUrl)
        problems.push(`${file}: a Function URL event, but ${logicalId} has no FunctionUrlConfig`)
    } else if (e.version === '2.0') {
      if (!httpApiRoutes.has(String(e.routeKey)))
        problems.push(`${file}: route ${String(e.routeKey)} is no HttpApi event of ${logicalId}`)
    } else if (typeof e.httpMethod === 'string' && e.requestContext !== undefined) {
      const route = `${e.httpMethod} ${String(e.resource)}`
      if (!restRoutes.has(route))
        problems.push(`${file}: route ${route} is no Api event of ${logicalId}`)
    } else if (e.requestContext !== undefined || e.httpMethod !== undefined) {
      problems.push(`${file}: an HTTP event of no source ${logicalId} has`)
    }
  }
  return problems
}
