"""The event catalog (schema/events/catalog.json) for tests: each type's
data schema, and a check of a CloudEvent against the schemas."""
import json
import os

import jsonschema

from harness import SOURCE_ROOT

EVENTS_DIR = os.path.join(SOURCE_ROOT, 'schema', 'events')


def load():
    with open(os.path.join(EVENTS_DIR, 'catalog.json'), encoding='utf-8') as f:
        return json.load(f)


def schema(name):
    with open(os.path.join(EVENTS_DIR, name), encoding='utf-8') as f:
        return json.load(f)


def data_schemas():
    """type -> the data schema of that type (a dict)."""
    return {e['type']: schema(e['schema']) for e in load()['events']}


def problem(ce, schemas=None):
    """None when ce is a valid Spaceport CloudEvent whose data follows its
    type's schema, else what is wrong."""
    schemas = schemas or data_schemas()
    try:
        jsonschema.validate(ce, schema('cloudevent.json'))
        if ce['type'] not in schemas:
            return 'no catalog entry for ' + ce['type']
        jsonschema.validate(ce['data'], schemas[ce['type']])
    except jsonschema.ValidationError as e:
        return '%s: %s' % (ce.get('type'), e.message)
    return None
