"""An OpenAPI 3.0 document as the judge of real answers.

One Judge per document: Spaceport's own contract (schema/openapi.yaml) and
the libre-graph API that oCIS clients are written against
(tests/data/libre-graph/v1.0.yaml) are judged by the same code.

OpenAPI 3.0 schema objects are not JSON Schema: the whole document is
translated once into a JSON Schema draft-07 document (below), and every
$ref is resolved by jsonschema's RefResolver over that whole document, so
a reference means in the judge what it means in the document.

Nothing is skipped silently: a keyword the translation does not know, or a
`format` no checker here verifies, is listed in Judge.unchecked; the tests
fail while that list is not empty.
"""
import json
import re
import urllib.parse

import jsonschema

METHODS = ('get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace')

# The JSON Schema keywords OpenAPI 3.0 shares with draft-07 (checked by
# jsonschema as they are).
VALIDATED = {'type', 'properties', 'patternProperties', 'additionalProperties', 'items',
             'allOf', 'anyOf', 'oneOf', 'not', 'enum', 'const', 'required', 'pattern',
             'maxLength', 'minLength', 'maximum', 'minimum', 'multipleOf', 'maxItems',
             'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'format', '$ref'}
# Annotations: they say nothing about an answer's validity. readOnly limits
# requests only (a response may carry the property); default and example
# describe values, they do not restrict them.
ANNOTATIONS = {'title', 'description', 'default', 'example', 'examples', 'deprecated',
               'readOnly', 'externalDocs', 'xml'}
# Translated below: nullable, writeOnly, discriminator and the OpenAPI 3.0
# (draft-04) boolean exclusiveMinimum/exclusiveMaximum.
TRANSLATED = {'nullable', 'writeOnly', 'discriminator', 'exclusiveMinimum',
              'exclusiveMaximum'}

RFC3339 = re.compile(r'^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$')
UUID = re.compile(r'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                  r'[0-9a-fA-F]{12}$')
BASE64URL = re.compile(r'^[A-Za-z0-9_-]*={0,2}$')


def _int_range(bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lambda v: not isinstance(v, int) or isinstance(v, bool) or lo <= v <= hi


# Every format either document names, with its check. A checker returns
# True for values of other types: `type` judges those. Debian's jsonschema
# checks none of these without modules it lacks, hence our own.
FORMATS = jsonschema.FormatChecker(formats=())
for _name, _check in {
        'date-time': lambda v: not isinstance(v, str) or RFC3339.match(v) is not None,
        'uuid': lambda v: not isinstance(v, str) or UUID.match(v) is not None,
        'base64url': lambda v: not isinstance(v, str) or BASE64URL.match(v) is not None,
        # the bytes of a non-JSON body: judged by Content-Type, any string
        'binary': lambda v: True,
        'int16': _int_range(16), 'int32': _int_range(32), 'int64': _int_range(64),
        # every JSON number is a double; `type` rejects what is no number
        'double': lambda v: True, 'float': lambda v: True}.items():
    FORMATS.checks(_name)(_check)


def pointer(doc, ref):
    """The node a local $ref names, or raises KeyError."""
    if not ref.startswith('#/'):
        raise KeyError('not a local reference: ' + ref)
    node = doc
    for part in ref[2:].split('/'):
        part = part.replace('~1', '/').replace('~0', '~')
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def all_refs(node, out):
    """Appends every $ref value under node to out; returns out."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == '$ref' and isinstance(v, str):
                out.append(v)
            else:
                all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


def deref(doc, node):
    """node, or what its chain of $refs names."""
    while isinstance(node, dict) and '$ref' in node:
        node = pointer(doc, node['$ref'])
    return node


def operations(spec):
    """(path, method, path item, operation) of every operation."""
    for path, item in spec.get('paths', {}).items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, item, op


def _schema(node, unchecked, where):
    """An OpenAPI 3.0 schema object as a draft-07 schema. References keep
    their targets (the whole document is translated). Unknown keywords and
    unchecked formats are added to unchecked (a set of strings)."""
    if isinstance(node, bool) or not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ('properties', 'patternProperties'):
            out[k] = {name: _schema(s, unchecked, where + '/' + name) for name, s in v.items()}
        elif k in ('items', 'not', 'additionalProperties'):
            out[k] = _schema(v, unchecked, where)
        elif k in ('allOf', 'anyOf', 'oneOf'):
            out[k] = [_schema(s, unchecked, where) for s in v]
        elif k == 'format':
            out[k] = v
            if v not in FORMATS.checkers:
                unchecked.add('format %r (%s)' % (v, where))
        elif k in VALIDATED:
            out[k] = v
        elif k in ANNOTATIONS or k in TRANSLATED or k.startswith('x-'):
            continue
        else:
            unchecked.add('keyword %r (%s)' % (k, where))
    # nullable: null is one more allowed value. Without a type (next to a
    # $ref or a composition) OpenAPI 3.0.3 gives it no effect.
    if node.get('nullable') is True and 'type' in out:
        out['type'] = [out['type'], 'null']
        if 'enum' in out and None not in out['enum']:
            out['enum'] = out['enum'] + [None]
    # A writeOnly property is sent in requests only: in an answer it is an
    # error, so it matches nothing (the judge checks answers only).
    if node.get('writeOnly') is True:
        return False
    # draft-04 exclusive bounds are flags on minimum/maximum.
    for flag, bound in (('exclusiveMinimum', 'minimum'), ('exclusiveMaximum', 'maximum')):
        if node.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)
    # discriminator: the named property must be there, and its value picks
    # the schema (mapping, or the last segment of each oneOf/anyOf $ref).
    disc = node.get('discriminator')
    if isinstance(disc, dict):
        prop = disc['propertyName']
        mapping = dict(disc.get('mapping', {}))
        for s in node.get('oneOf', []) + node.get('anyOf', []):
            if isinstance(s, dict) and '$ref' in s:
                mapping.setdefault(s['$ref'].rsplit('/', 1)[-1], s['$ref'])
        out['required'] = sorted(set(out.get('required', [])) | {prop})
        out.setdefault('allOf', [])
        out['allOf'] = out['allOf'] + [
            {'if': {'properties': {prop: {'const': value}}}, 'then': {'$ref': ref}}
            for value, ref in sorted(mapping.items())]
        out['properties'] = dict(out.get('properties', {}))
        out['properties'].setdefault(prop, {})
        out['properties'][prop] = {'allOf': [out['properties'][prop], {'enum': sorted(mapping)}]}
    return out


def _translate(node, unchecked, where):
    """The document with every schema object (components.schemas and each
    `schema` member) translated; everything else as it is."""
    if isinstance(node, list):
        return [_translate(v, unchecked, where) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == 'schema':
            out[k] = _schema(v, unchecked, where)
        elif k == 'schemas' and where == '#/components':
            out[k] = {name: _schema(s, unchecked, '%s/schemas/%s' % (where, name))
                      for name, s in v.items()}
        elif k in ('example', 'examples'):
            out[k] = v
        else:
            out[k] = _translate(v, unchecked, '%s/%s' % (where, k))
    return out


def media_type(ctype):
    """The media type of a Content-Type value, lower case, no parameters."""
    return ctype.split(';')[0].strip().lower()


class Judge:
    """Judges real answers against one OpenAPI 3.0 document.

    spec: the parsed document (borrowed). base: the prefix of the document's
    server URL path, which the document's paths leave out ('/graph' for
    libre-graph, whose server is https://host/graph and paths /v1.0/...).
    """

    JSON_TYPES = ('application/json', 'application/jrd+json', 'application/cloudevents+json')

    def __init__(self, spec, base=''):
        self.spec = spec
        self.base = base
        self.unchecked = set()
        self.document = _translate(spec, self.unchecked, '#')
        self.resolver = jsonschema.RefResolver.from_schema(self.document)
        self.templates = []
        for path in spec['paths']:
            rx = '^' + ''.join('[^/]+' if re.fullmatch(r'\{[^{}/]+\}', seg) else re.escape(seg)
                               for seg in re.split(r'(\{[^{}/]+\})', path)) + '$'
            self.templates.append((path.count('{'), path, re.compile(rx)))
        self.templates.sort()

    def template(self, path):
        """The document's path template that matches a request path (with
        base), or None."""
        path = urllib.parse.urlsplit(path).path
        if not path.startswith(self.base + '/'):
            return None
        path = path[len(self.base):]
        for _, tmpl, rx in self.templates:
            if rx.match(path):
                return tmpl
        return None

    def problems(self, schema, value):
        """Validation errors of value against an OpenAPI schema object of
        the document (a node of self.spec, or a $ref into it)."""
        unchecked = set()
        js = _schema(schema, unchecked, '(inline)')
        v = jsonschema.Draft7Validator(js, resolver=self.resolver, format_checker=FORMATS)
        errors = ['%s: %s' % ('/'.join(str(p) for p in e.absolute_path) or '(root)', e.message)
                  for e in v.iter_errors(value)]
        return errors + ['not checked: %s' % u for u in sorted(unchecked)]

    def undocumented(self, schema, value, where='', name='(inline)'):
        """[(path in value, schema name, member)] of the members of value
        that its schema does not name. OpenAPI objects admit any member
        unless they say otherwise, so validation lets a misspelt name
        through; this lists them. Follows $ref, allOf, anyOf, oneOf, items;
        name is the last components.schemas entry followed."""
        def resolve(node, name):
            while isinstance(node, dict) and '$ref' in node:
                name = node['$ref'].rsplit('/', 1)[-1]
                node = pointer(self.spec, node['$ref'])
            return (node if isinstance(node, dict) else {}), name
        schema, name = resolve(schema, name)
        parts = [(schema, name)] + [resolve(s, name) for k in ('allOf', 'anyOf', 'oneOf')
                                    for s in schema.get(k, [])]
        out = []
        if isinstance(value, dict):
            if any(p.get('additionalProperties') not in (None, False) for p, _ in parts):
                return out
            props = {}
            for p, n in parts:
                props.update({k: (v, n) for k, v in p.get('properties', {}).items()})
            for k, v in value.items():
                if k in props:
                    out += self.undocumented(props[k][0], v, '%s/%s' % (where, k), props[k][1])
                else:
                    out.append((where + '/' + k, name, k))
        elif isinstance(value, list):
            items = [(p['items'], n) for p, n in parts if 'items' in p]
            for i, v in enumerate(value):
                item, n = items[0] if items else ({}, name)
                out += self.undocumented(item, v, '%s/%d' % (where, i), n)
        return out

    def response(self, method, path, status):
        """(template, response object) the document gives for an answer, or
        (None, problem)."""
        tmpl = self.template(path)
        if tmpl is None:
            return None, 'no documented path matches %s' % path
        op = self.spec['paths'][tmpl].get(method.lower())
        if op is None:
            return None, '%s %s is not documented' % (method, tmpl)
        responses = {str(k): v for k, v in op['responses'].items()}
        resp = responses.get(str(status)) or responses.get('default')
        if resp is None:
            return None, 'status %d of %s %s is not documented (%s)' % (
                status, method, tmpl, ', '.join(responses))
        return tmpl, deref(self.spec, resp)

    def check_body(self, response_obj, r):
        """Problems of r against a response object (content type, schema)."""
        response_obj = deref(self.spec, response_obj)
        content = response_obj.get('content')
        if not content:
            return [] if not r.body else ['a body where none is documented: %r' % r.body[:200]]
        ctype = r.headers.get('content-type', '')
        media = content.get(ctype)
        if media is None:
            media = {media_type(k): m for k, m in content.items()}.get(media_type(ctype))
        if media is None:
            return ['Content-Type %r is not documented (%s)' % (ctype, ', '.join(content))]
        schema = media.get('schema', {})
        if media_type(ctype) not in self.JSON_TYPES:
            return [] if deref(self.spec, schema).get('type') == 'string' else [
                'a non-JSON body documented with a non-string schema']
        try:
            value = json.loads(r.body)
        except ValueError as e:
            return ['the body is not JSON: %s' % e]
        return self.problems(schema, value)

    def check(self, method, path, r):
        """Problems of a real answer r to METHOD path against the document."""
        tmpl, resp = self.response(method, path, r.status)
        if tmpl is None:
            return [resp]
        return self.check_body(resp, r)

    def verdict(self, method, path, r, status):
        """Problems of a real answer r to METHOD path that should have had
        status: a different status, then check()."""
        problems = [] if r.status == status else ['status %d, want %d: %r' % (
            r.status, status, r.body[:300])]
        return problems + self.check(method, path, r)
