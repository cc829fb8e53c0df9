"""Field-level normalizers: pure functions, no I/O, and no import of anything else in the package.

* :mod:`include.normalize.keys`    the key form (the one Python definition of the same e-mail or name;
  its SQL twin is ``include/sql/pipeline/020_key_form.sql``);
* :mod:`include.normalize.names`   names (NFKC, placeholders, ``users.name`` split);
* :mod:`include.normalize.emails`  e-mail syntax and key;
* :mod:`include.normalize.phones`  phones to E.164;
* :mod:`include.normalize.dates`   dates in the formats a source declares.

The record-level normalizer that applies them to one clinic record is
:mod:`include.imports.record_normalizer`.
"""
