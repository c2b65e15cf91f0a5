// Unit tests of the examples kit (scripts/examples/): the template reader, the checks it makes
// on a template beyond the SAM schema, the event checks, the schema messages and the esbuild
// command `sam build` runs. Each mutation starts from hello-json's real template, so a check
// that stops catching its mistake, or starts flagging a valid template, fails here.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { samEsbuildArgs } from '../../../scripts/examples/build.ts'
import { SAM_SCHEMA_PATH } from '../../../scripts/examples/harness.ts'
import {
  compileSamSchema,
  eventProblems,
  functionBuilds,
  loadEvents,
  loadTemplate,
  outExtension,
  parseTemplate,
  type SamSchema,
  schemaErrors,
  type Template,
  templateProblems,
} from '../../../scripts/examples/template.ts'

const examplesDir = join(dirname(fileURLToPath(import.meta.url)), '..')
const dir = join(examplesDir, 'hello-json')
// The captured HTTP events the test-kit keeps (packages/test-kit/events).
const fixtures = join(examplesDir, '..', 'test-kit', 'events')
const valid: Template = loadTemplate(dir)

type Props = Record<string, unknown>
type Mutable = Template & { Globals?: Record<string, Props> }

/** A fresh deep copy of hello-json's template, with `mutate` applied to it. */
function mutated(mutate: (template: Mutable) => void): Template {
  const template = structuredClone(valid) as Mutable
  mutate(template)
  return template
}
const resource = (template: Template, id: string) => {
  const found = template.Resources[id]
  assert.ok(found, `no ${id} in the template`)
  return found
}
const fn = (template: Template): Props => resource(template, 'GreetingsFunction').Properties!
const provider = (template: Template): Props => resource(template, 'CapacityProvider').Properties!
const buildProps = (template: Template): Props =>
  resource(template, 'GreetingsFunction').Metadata!.BuildProperties as Props
const capacityConfig = (template: Template): Props => fn(template).CapacityProviderConfig as Props
const variables = (template: Template): Props =>
  (fn(template).Environment as { Variables: Props }).Variables

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'))

describe('parseTemplate: CloudFormation short-form intrinsics', () => {
  test('scalar forms: !Ref, !GetAtt split at its first dot, !Sub', () => {
    assert.deepEqual(
      parseTemplate(
        [
          'a: !Ref X',
          'b: !GetAtt A.B',
          'c: !GetAtt A.B.C',
          'd: !GetAtt A',
          `e: !Sub 'x\${Y}'`,
        ].join('\n'),
      ),
      {
        a: { Ref: 'X' },
        b: { 'Fn::GetAtt': ['A', 'B'] },
        c: { 'Fn::GetAtt': ['A', 'B.C'] },
        d: { 'Fn::GetAtt': ['A'] },
        e: { 'Fn::Sub': `x\${Y}` },
      },
    )
  })

  test('sequence forms: !If, !Equals, and forms nested in them', () => {
    assert.deepEqual(
      parseTemplate(
        [
          'if: !If [C, a, b]',
          'equals: !Equals [!Ref P, "true"]',
          'layers: !If [C, [!Ref L], !Ref AWS::NoValue]',
          `sub: !Sub ["\${A}-x", { A: !GetAtt R.Arn }]`,
        ].join('\n'),
      ),
      {
        if: { 'Fn::If': ['C', 'a', 'b'] },
        equals: { 'Fn::Equals': [{ Ref: 'P' }, 'true'] },
        layers: { 'Fn::If': ['C', [{ Ref: 'L' }], { Ref: 'AWS::NoValue' }] },
        sub: { 'Fn::Sub': [`\${A}-x`, { A: { 'Fn::GetAtt': ['R', 'Arn'] } }] },
      },
    )
  })

  test('map form: !Transform { Name, Parameters }', () => {
    assert.deepEqual(
      parseTemplate(
        ['t: !Transform', '  Name: AWS::Include', '  Parameters:', '    Location: s3://b/k'].join(
          '\n',
        ),
      ),
      {
        t: { 'Fn::Transform': { Name: 'AWS::Include', Parameters: { Location: 's3://b/k' } } },
      },
    )
  })

  test('a duplicate key throws', () => {
    assert.throws(
      () => parseTemplate(['Resources:', '  A: 1', '  A: 2'].join('\n')),
      /Map keys must be unique/,
    )
  })

  test("hello-json's template reads as its long forms", () => {
    assert.deepEqual(capacityConfig(valid).Arn, { 'Fn::GetAtt': ['CapacityProvider', 'Arn'] })
    assert.deepEqual(fn(valid).Layers, {
      'Fn::If': ['WithLmiRuntime', [{ Ref: 'LmiRuntimeLayer' }], { Ref: 'AWS::NoValue' }],
    })
    assert.deepEqual(valid.Conditions?.WithLmiRuntime, {
      'Fn::Equals': [{ Ref: 'UseLmiRuntime' }, 'true'],
    })
  })
})

const fnId = 'GreetingsFunction'
const CONCURRENCY = `${fnId}: PerExecutionEnvironmentMaxConcurrency must be an integer in 1..1600`
const RATIO = `${fnId}: ExecutionEnvironmentMemoryGiBPerVCpu must be 2, 4 or 8`
const MEMORY = `${fnId}: MemorySize must be at least 2048 and one vCPU's worth (ratio × 1024)`

const mutations: Array<{
  name: string
  mutate: (template: Mutable) => void
  expected: string[] | RegExp
}> = [
  {
    name: 'Runtime nodejs22.x',
    mutate: (t) => {
      fn(t).Runtime = 'nodejs22.x'
    },
    expected: [`${fnId}: Runtime is nodejs22.x, not nodejs24.x`],
  },
  {
    name: 'AutoPublishAlias removed',
    mutate: (t) => {
      delete fn(t).AutoPublishAlias
    },
    expected: [`${fnId}: no AutoPublishAlias`],
  },
  {
    name: 'CapacityProviderConfig.Arn a plain string',
    mutate: (t) => {
      capacityConfig(t).Arn = 'arn:aws:lambda:eu-west-1:123456789012:capacity-provider:cp'
    },
    expected: [`${fnId}: CapacityProviderConfig.Arn is not !GetAtt <a capacity provider here>.Arn`],
  },
  {
    name: 'CapacityProviderConfig.Arn the Arn of a resource that is no capacity provider',
    mutate: (t) => {
      capacityConfig(t).Arn = { 'Fn::GetAtt': ['LmiRuntimeLayer', 'Arn'] }
    },
    expected: [`${fnId}: CapacityProviderConfig.Arn is not !GetAtt <a capacity provider here>.Arn`],
  },
  {
    name: 'PerExecutionEnvironmentMaxConcurrency 0',
    mutate: (t) => {
      capacityConfig(t).PerExecutionEnvironmentMaxConcurrency = 0
    },
    expected: [CONCURRENCY],
  },
  {
    name: 'PerExecutionEnvironmentMaxConcurrency 2000',
    mutate: (t) => {
      capacityConfig(t).PerExecutionEnvironmentMaxConcurrency = 2000
    },
    expected: [CONCURRENCY],
  },
  {
    name: 'PerExecutionEnvironmentMaxConcurrency 1.5',
    mutate: (t) => {
      capacityConfig(t).PerExecutionEnvironmentMaxConcurrency = 1.5
    },
    expected: [CONCURRENCY],
  },
  {
    name: 'PerExecutionEnvironmentMaxConcurrency 1600 (the bound itself)',
    mutate: (t) => {
      capacityConfig(t).PerExecutionEnvironmentMaxConcurrency = 1600
    },
    expected: [],
  },
  {
    name: 'ExecutionEnvironmentMemoryGiBPerVCpu 3 (and 2048 MB is less than one vCPU at 3 GiB)',
    mutate: (t) => {
      capacityConfig(t).ExecutionEnvironmentMemoryGiBPerVCpu = 3
    },
    expected: [RATIO, MEMORY],
  },
  {
    name: 'ExecutionEnvironmentMemoryGiBPerVCpu 4 with MemorySize 2048',
    mutate: (t) => {
      capacityConfig(t).ExecutionEnvironmentMemoryGiBPerVCpu = 4
    },
    expected: [MEMORY],
  },
  {
    name: 'ExecutionEnvironmentMemoryGiBPerVCpu 4 with MemorySize 4096',
    mutate: (t) => {
      capacityConfig(t).ExecutionEnvironmentMemoryGiBPerVCpu = 4
      fn(t).MemorySize = 4096
    },
    expected: [],
  },
  {
    name: 'ExecutionEnvironmentMemoryGiBPerVCpu removed',
    mutate: (t) => {
      delete capacityConfig(t).ExecutionEnvironmentMemoryGiBPerVCpu
    },
    expected: [RATIO],
  },
  {
    name: 'ExecutionEnvironmentMemoryGiBPerVCpu removed and MemorySize 1024 (the 2048 floor alone)',
    mutate: (t) => {
      delete capacityConfig(t).ExecutionEnvironmentMemoryGiBPerVCpu
      fn(t).MemorySize = 1024
    },
    expected: [RATIO, MEMORY],
  },
  {
    name: 'MemorySize 1024',
    mutate: (t) => {
      fn(t).MemorySize = 1024
    },
    expected: [MEMORY],
  },
  {
    name: 'CodeUri pointing to a missing directory',
    mutate: (t) => {
      fn(t).CodeUri = 'missing/'
    },
    expected: [`${fnId}: CodeUri missing/ is not a directory`],
  },
  {
    name: 'Metadata.BuildMethod not esbuild',
    mutate: (t) => {
      resource(t, fnId).Metadata!.BuildMethod = 'nodejs-npm'
    },
    expected: [`${fnId}: Metadata.BuildMethod is not esbuild`],
  },
  {
    name: 'EntryPoints naming a missing file',
    mutate: (t) => {
      buildProps(t).EntryPoints = ['handler.ts', 'missing.ts']
    },
    expected: [`${fnId}: entry point missing.ts not found in CodeUri`],
  },
  {
    name: 'EntryPoints empty',
    mutate: (t) => {
      buildProps(t).EntryPoints = []
    },
    expected: [`${fnId}: no BuildProperties.EntryPoints`],
  },
  {
    name: 'Handler nothere.handler',
    mutate: (t) => {
      fn(t).Handler = 'nothere.handler'
    },
    expected: [`${fnId}: Handler nothere.handler is not <an entry point's name>.<export>`],
  },
  {
    name: 'Format esm without OutExtension .js=.mjs',
    mutate: (t) => {
      delete buildProps(t).OutExtension
    },
    expected: [`${fnId}: an esm bundle must be .mjs (OutExtension .js=.mjs)`],
  },
  {
    name: "Format cjs (SAM's default) with OutExtension .js=.mjs",
    mutate: (t) => {
      delete buildProps(t).Format
    },
    expected: [`${fnId}: a cjs bundle must not be .mjs`],
  },
  {
    name: "a BuildProperty SAM's esbuild builder ignores",
    mutate: (t) => {
      buildProps(t).Splitting = true
    },
    expected: [`${fnId}: BuildProperties SAM's esbuild builder ignores: splitting`],
  },
  {
    name: 'Handler with an empty export name',
    mutate: (t) => {
      fn(t).Handler = 'handler.'
    },
    expected: [`${fnId}: Handler handler. is not <an entry point's name>.<export>`],
  },
  {
    name: 'AutoPublishAlias empty',
    mutate: (t) => {
      fn(t).AutoPublishAlias = ''
    },
    expected: [`${fnId}: no AutoPublishAlias`],
  },
  {
    name: 'function arm64 on x86_64 instances',
    mutate: (t) => {
      fn(t).Architectures = ['arm64']
    },
    expected: [`${fnId}: Architectures ["arm64"] differ from the capacity provider's ["x86_64"]`],
  },
  {
    name: 'a string-form Fn::GetAtt on an unknown resource',
    mutate: (t) => {
      variables(t).TABLE = { 'Fn::GetAtt': 'Nope.Arn' }
    },
    expected: [
      '/Resources/GreetingsFunction/Properties/Environment/Variables/TABLE: Fn::GetAtt on unknown Nope',
    ],
  },
  {
    name: 'the exec wrapper always, its layer only under a condition',
    mutate: (t) => {
      variables(t).AWS_LAMBDA_EXEC_WRAPPER = '/opt/lmi/exec-wrapper'
    },
    expected: [`${fnId}: AWS_LAMBDA_EXEC_WRAPPER and Layers are not under the same condition`],
  },
  {
    name: 'the exec wrapper at another path',
    mutate: (t) => {
      variables(t).AWS_LAMBDA_EXEC_WRAPPER = {
        'Fn::If': ['WithLmiRuntime', '/opt/lmi/exec-wrapper-old', { Ref: 'AWS::NoValue' }],
      }
    },
    expected: [`${fnId}: AWS_LAMBDA_EXEC_WRAPPER is not /opt/lmi/exec-wrapper`],
  },
  {
    name: 'a Ref to an unknown name',
    mutate: (t) => {
      variables(t).TABLE = { Ref: 'NoSuchTable' }
    },
    expected: [
      '/Resources/GreetingsFunction/Properties/Environment/Variables/TABLE: Ref to unknown NoSuchTable',
    ],
  },
  {
    name: 'a !GetAtt on an unknown resource',
    mutate: (t) => {
      variables(t).QUEUE = { 'Fn::GetAtt': ['NoSuchQueue', 'Arn'] }
    },
    expected: [
      '/Resources/GreetingsFunction/Properties/Environment/Variables/QUEUE: Fn::GetAtt on unknown NoSuchQueue',
    ],
  },
  {
    name: 'a !Sub naming an unknown name',
    mutate: (t) => {
      t.Outputs!.GreetingsUrl!.Value = { 'Fn::Sub': `https://\${NoSuchApi}.example/greetings` }
    },
    expected: ['/Outputs/GreetingsUrl/Value: Fn::Sub names unknown NoSuchApi'],
  },
  {
    name: 'a !If on an unknown condition',
    mutate: (t) => {
      fn(t).Layers = {
        'Fn::If': ['NoSuchCondition', [{ Ref: 'LmiRuntimeLayer' }], { Ref: 'AWS::NoValue' }],
      }
    },
    expected: [
      '/Resources/GreetingsFunction/Properties/Layers: unknown condition NoSuchCondition',
      `${fnId}: AWS_LAMBDA_EXEC_WRAPPER and Layers are not under the same condition`,
    ],
  },
  {
    name: 'VpcConfig.SubnetIds a Ref to a security-group list parameter',
    mutate: (t) => {
      ;(provider(t).VpcConfig as Props).SubnetIds = { Ref: 'SecurityGroupIds' }
    },
    expected: [
      'CapacityProvider: VpcConfig.SubnetIds is not a List<AWS::EC2::Subnet::Id> parameter',
    ],
  },
  {
    name: 'VpcConfig.SubnetIds a literal list',
    mutate: (t) => {
      ;(provider(t).VpcConfig as Props).SubnetIds = ['subnet-0123', 'subnet-4567']
    },
    expected: [
      'CapacityProvider: VpcConfig.SubnetIds is not a List<AWS::EC2::Subnet::Id> parameter',
    ],
  },
  {
    name: 'no ScalingConfig',
    mutate: (t) => {
      delete provider(t).ScalingConfig
    },
    expected: ['CapacityProvider: no ScalingConfig'],
  },
  {
    name: 'LmiRuntimeLayer removed',
    mutate: (t) => {
      delete t.Resources.LmiRuntimeLayer
    },
    expected: [
      '/Resources/GreetingsFunction/Properties/Layers/Fn::If/1/0: Ref to unknown LmiRuntimeLayer',
      `${fnId}: no LmiRuntimeLayer`,
    ],
  },
  {
    name: "LmiRuntimeLayer's ContentUri a directory without its Makefile",
    mutate: (t) => {
      resource(t, 'LmiRuntimeLayer').Properties!.ContentUri = 'src/'
    },
    expected:
      /^LmiRuntimeLayer: \/.*\/hello-json\/src\/Makefile has no build-LmiRuntimeLayer target$/,
  },
  {
    name: 'AWS_LAMBDA_EXEC_WRAPPER removed',
    mutate: (t) => {
      delete variables(t).AWS_LAMBDA_EXEC_WRAPPER
    },
    expected: [
      `${fnId}: AWS_LAMBDA_EXEC_WRAPPER is not /opt/lmi/exec-wrapper`,
      `${fnId}: AWS_LAMBDA_EXEC_WRAPPER and Layers are not under the same condition`,
    ],
  },
  {
    name: 'Layers without LmiRuntimeLayer',
    mutate: (t) => {
      fn(t).Layers = {
        'Fn::If': [
          'WithLmiRuntime',
          ['arn:aws:lambda:eu-west-1:123456789012:layer:other:1'],
          { Ref: 'AWS::NoValue' },
        ],
      }
    },
    expected: [`${fnId}: Layers does not include LmiRuntimeLayer`],
  },
  {
    name: 'Runtime only in Globals.Function',
    mutate: (t) => {
      delete fn(t).Runtime
      t.Globals = { Function: { Runtime: 'nodejs24.x' } }
    },
    expected: [],
  },
  {
    name: 'Runtime nodejs22.x in Globals.Function, none on the function',
    mutate: (t) => {
      delete fn(t).Runtime
      t.Globals = { Function: { Runtime: 'nodejs22.x' } }
    },
    expected: [`${fnId}: Runtime is nodejs22.x, not nodejs24.x`],
  },
]

describe('templateProblems: one mutation of hello-json at a time', () => {
  test('the unmutated template has no problem', () => {
    assert.deepEqual(templateProblems(dir, structuredClone(valid)), [])
  })

  for (const { name, mutate, expected } of mutations) {
    test(name, () => {
      const problems = templateProblems(dir, mutated(mutate))
      if (expected instanceof RegExp) {
        assert.equal(problems.length, 1, JSON.stringify(problems))
        assert.match(problems[0] as string, expected)
      } else {
        assert.deepEqual(problems, expected)
      }
    })
  }
})

describe('eventProblems', () => {
  const events = loadEvents(dir)
  const greetEn = events.get('greet-en.json') as Record<string, unknown>
  const one = (name: string, event: unknown) => new Map([[name, event]])

  test("hello-json's events all pass for GreetingsFunction", () => {
    assert.ok(events.size >= 6, `only ${events.size} events`)
    assert.deepEqual(eventProblems(valid, events, fnId), [])
  })

  test('an HTTP API (v2) event for a route the function has no HttpApi event for', () => {
    const event = { ...structuredClone(greetEn), routeKey: 'GET /nope' }
    assert.deepEqual(eventProblems(valid, one('nope.json', event), fnId), [
      'nope.json: route GET /nope is no HttpApi event of GreetingsFunction',
    ])
  })

  test('a REST (v1) event for a function with only HttpApi events; passes with its Api event', () => {
    const rest = one('apigw-rest.json', readJson(join(fixtures, 'apigw-rest.json')))
    assert.deepEqual(eventProblems(valid, rest, fnId), [
      'apigw-rest.json: route POST /no-auth is no Api event of GreetingsFunction',
    ])
    const withApi = mutated((t) => {
      ;(fn(t).Events as Props).Rest = {
        Type: 'Api',
        Properties: { Path: '/no-auth', Method: 'post' },
      }
    })
    assert.deepEqual(eventProblems(withApi, rest, fnId), [])
  })

  test('a Function URL event for a function without FunctionUrlConfig; passes with one', () => {
    const url = one('function-url.json', readJson(join(fixtures, 'function-url.json')))
    assert.deepEqual(eventProblems(valid, url, fnId), [
      'function-url.json: a Function URL event, but GreetingsFunction has no FunctionUrlConfig',
    ])
    const withUrl = mutated((t) => {
      fn(t).FunctionUrlConfig = { AuthType: 'AWS_IAM' }
    })
    assert.deepEqual(eventProblems(withUrl, url, fnId), [])
  })

  test('an HTTP-looking event of no known shape is reported', () => {
    assert.deepEqual(eventProblems(valid, one('odd.json', { requestContext: {} }), fnId), [
      'odd.json: an HTTP event of no source GreetingsFunction has',
    ])
  })

  test('a plain event (a direct invoke) is not reported', () => {
    assert.deepEqual(eventProblems(valid, one('direct.json', { n: 1 }), fnId), [])
  })
})

const schemaMissing = existsSync(SAM_SCHEMA_PATH)
  ? false
  : `${SAM_SCHEMA_PATH} not found: the official SAM schema sits in ../shared/schemas/ beside the repository (as in CI)`

describe('schemaErrors against the official SAM schema', { skip: schemaMissing }, () => {
  let schema: SamSchema
  before(() => {
    schema = compileSamSchema(SAM_SCHEMA_PATH)
  })

  test('the valid template has no error', () => {
    assert.deepEqual(schemaErrors(schema, structuredClone(valid)), [])
  })

  test('an unknown function property', () => {
    const template = mutated((t) => {
      fn(t).Bogus = true
    })
    assert.deepEqual(schemaErrors(schema, template), [
      '/Resources/GreetingsFunction/Properties must NOT have additional properties: Bogus',
    ])
  })

  test('an unknown capacity provider property', () => {
    const template = mutated((t) => {
      provider(t).NotAProperty = 1
    })
    assert.deepEqual(schemaErrors(schema, template), [
      '/Resources/CapacityProvider/Properties must NOT have additional properties: NotAProperty',
    ])
  })

  test('a missing required VpcConfig', () => {
    const template = mutated((t) => {
      delete provider(t).VpcConfig
    })
    assert.deepEqual(schemaErrors(schema, template), [
      "/Resources/CapacityProvider/Properties must have required property 'VpcConfig'",
    ])
  })
})

describe('samEsbuildArgs: the esbuild command of SAM’s esbuild builder', () => {
  const codeDir = '/code'
  const outDir = '/out'

  test("hello-json's BuildProperties", () => {
    const [build] = functionBuilds(dir, valid)
    assert.ok(build)
    assert.deepEqual(samEsbuildArgs(build.buildProperties, build.codeDir, '/tmp/artifact'), [
      join(dir, 'src', 'handler.ts'),
      '--bundle',
      '--platform=node',
      '--outdir=/tmp/artifact',
      '--sourcemap',
      '--target=es2023',
      '--format=esm',
      '--out-extension:.js=.mjs',
      "--banner:js=import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    ])
  })

  test("SAM's defaults where the properties say nothing", () => {
    assert.deepEqual(samEsbuildArgs({ EntryPoints: ['a.ts'] }, codeDir, outDir), [
      '/code/a.ts',
      '--bundle',
      '--platform=node',
      '--outdir=/out',
      '--target=es2020',
      '--format=cjs',
      '--minify',
    ])
  })

  test('an unsupported property throws, naming it', () => {
    assert.throws(
      () => samEsbuildArgs({ EntryPoints: ['a.ts'], Splitting: true }, codeDir, outDir),
      /ignores: splitting$/,
    )
  })

  test('single-valued and multi-valued properties', () => {
    const args = samEsbuildArgs(
      {
        EntryPoints: ['a.ts', 'lib/b.ts'],
        MainFields: 'module,main',
        External: ['@aws-sdk/*', 'pg-native'],
        Loader: ['.node=file'],
        SourcesContent: false,
      },
      codeDir,
      outDir,
    )
    assert.deepEqual(args, [
      '/code/a.ts',
      '/code/lib/b.ts',
      '--bundle',
      '--platform=node',
      '--outdir=/out',
      '--target=es2020',
      '--format=cjs',
      '--minify',
      '--main-fields=module,main',
      '--sources-content=false',
      '--external:@aws-sdk/*',
      '--external:pg-native',
      '--loader:.node=file',
    ])
  })
})

describe('outExtension and functionBuilds', () => {
  test('outExtension: .js by default, the .js= mapping otherwise', () => {
    assert.equal(outExtension({}), '.js')
    assert.equal(outExtension({ OutExtension: ['.css=.c.css', '.js=.cjs'] }), '.cjs')
    assert.equal(outExtension(buildProps(valid)), '.mjs')
  })

  test("hello-json's one function", () => {
    const builds = functionBuilds(dir, valid)
    assert.equal(builds.length, 1)
    const [build] = builds
    assert.equal(build?.logicalId, fnId)
    assert.equal(build?.codeDir, resolve(dir, 'src'))
    assert.equal(build?.handler, 'handler.handler')
    assert.equal(build?.handlerFile, 'handler.mjs')
    assert.equal(build?.buildProperties, buildProps(valid))
  })

  test('Globals.Function is merged under the resource’s own properties', () => {
    const template = mutated((t) => {
      delete fn(t).Runtime
      t.Globals = { Function: { Runtime: 'nodejs24.x', Timeout: 30, Tracing: 'Active' } }
    })
    const [build] = functionBuilds(dir, template)
    assert.equal(build?.properties.Runtime, 'nodejs24.x')
    assert.equal(build?.properties.Tracing, 'Active')
    // The resource's own value wins over the global one.
    assert.equal(build?.properties.Timeout, 10)
  })
})
