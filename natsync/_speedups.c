/* natsync._speedups: the parser's inner loop over MSG and HMSG frames, in C.
 *
 * Optional: natsync/protocol.py is the reference and does everything this does. The scan
 * handles only well-formed MSG/HMSG frames and returns at the first byte it does not
 * take (another operation, a frame cut short, anything irregular), so the Python parser
 * handles every error, every control line and every partial frame; its results are the
 * same byte for byte (tests/test_speedups.py checks that on a fuzzed corpus).
 * NATSYNC_NO_SPEEDUPS=1 keeps it from being loaded.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Parsed MSG lines a parser keeps; protocol._LINES_KEPT is the same number. */
#define LINES_KEPT 1024
/* Tokens of a MSG/HMSG line the scan takes: subject sid [reply] [hdr_len] total. */
#define MAX_TOKENS 5
/* Longest number the scan parses itself (longer ones go to int() in Python). */
#define MAX_DIGITS 18

typedef struct {
    const char *start;
    Py_ssize_t len;
} token;

/* ASCII whitespace as bytes.split() sees it. */
static inline int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* Split [p, end) on runs of whitespace; -1 when there are more than MAX_TOKENS. */
static int
split_tokens(const char *p, const char *end, token *out)
{
    int n = 0;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        if (n == MAX_TOKENS)
            return -1;
        out[n].start = p;
        while (p < end && !is_space(*p))
            p++;
        out[n].len = p - out[n].start;
        n++;
    }
    return n;
}

/* The value of a token of ASCII digits only, or -1. */
static Py_ssize_t
digits(const token *t)
{
    Py_ssize_t v = 0;
    if (t->len == 0 || t->len > MAX_DIGITS)
        return -1;
    for (Py_ssize_t i = 0; i < t->len; i++) {
        char c = t->start[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

/* The first CRLF at or after `pos` within `limit` bytes of it, or -1. */
static Py_ssize_t
find_crlf(const char *d, Py_ssize_t pos, Py_ssize_t size, Py_ssize_t limit)
{
    Py_ssize_t stop = size - pos > limit ? pos + limit : size;
    Py_ssize_t i = pos + 1;
    while (i < stop) {
        const char *nl = memchr(d + i, '\n', (size_t)(stop - i));
        if (nl == NULL)
            return -1;
        i = nl - d;
        if (d[i - 1] == '\r')
            return i - 1;
        i++;
    }
    return -1;
}

/* (sid, subject, reply, size) of 3 or 4 tokens, or NULL with no error set when Python
 * must parse the line (it then raises the right ProtocolError). */
static PyObject *
line_tuple(const token *t, int n, Py_ssize_t max_payload, Py_ssize_t *size)
{
    Py_ssize_t sid, total;
    PyObject *subject, *reply, *result;
    const token *size_t_ = n == 3 ? &t[2] : &t[3];

    if (n != 3 && n != 4)
        return NULL;
    sid = digits(&t[1]);
    total = digits(size_t_);
    if (sid < 0 || total < 0 || total > max_payload)
        return NULL;
    subject = PyUnicode_DecodeUTF8(t[0].start, t[0].len, NULL);
    if (subject == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (n == 4)
        reply = PyUnicode_DecodeUTF8(t[2].start, t[2].len, NULL);
    else
        reply = PyUnicode_FromStringAndSize("", 0);
    if (reply == NULL) {
        PyErr_Clear();
        Py_DECREF(subject);
        return NULL;
    }
    result = Py_BuildValue("(nNNn)", sid, subject, reply, total);
    *size = total;
    return result;
}

/* Look a MSG line up in the parser's table, or parse it and keep it when it has no reply
 * (as Parser.feed does). New reference; NULL and no error: leave it to Python; NULL and
 * an error: fail. */
static PyObject *
msg_line(PyObject *lines, const char *line, Py_ssize_t len, Py_ssize_t max_payload,
         Py_ssize_t *size)
{
    token t[MAX_TOKENS];
    PyObject *key, *known;
    int n;

    key = PyBytes_FromStringAndSize(line, len);
    if (key == NULL)
        return NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (PyDict_GetItemRef(lines, key, &known) < 0) {
        Py_DECREF(key);
        return NULL;
    }
#else
    known = PyDict_GetItemWithError(lines, key);
    if (known == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        return NULL;
    }
    Py_XINCREF(known);
#endif
    if (known != NULL) {
        Py_DECREF(key);
        *size = PyLong_AsSsize_t(PyTuple_GET_ITEM(known, 3));
        return known;
    }
    n = split_tokens(line, line + len, t);
    known = n < 0 ? NULL : line_tuple(t, n, max_payload, size);
    if (known != NULL && n == 3) {
        if (PyDict_GET_SIZE(lines) >= LINES_KEPT)
            PyDict_Clear(lines);
        if (PyDict_SetItem(lines, key, known) < 0) {
            Py_DECREF(known);
            known = NULL;
        }
    }
    Py_DECREF(key);
    return known;
}

/* scan(data, pos, events, lines, max_line, max_payload, parse_headers) -> int
 *
 * Append the MSG events of the well-formed MSG/HMSG frames from `pos` on to `events`;
 * return where Python must go on. */
static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *data, *events, *lines, *parse_headers, *zero;
    Py_ssize_t pos, max_line, max_payload, size;
    const char *d;

    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 7 arguments");
        return NULL;
    }
    data = args[0];
    events = args[2];
    lines = args[3];
    parse_headers = args[6];
    if (!PyBytes_CheckExact(data) || !PyList_CheckExact(events) || !PyDict_CheckExact(lines)) {
        PyErr_SetString(PyExc_TypeError, "scan(): bytes, list and dict expected");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    max_line = PyLong_AsSsize_t(args[4]);
    max_payload = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    d = PyBytes_AS_STRING(data);
    size = PyBytes_GET_SIZE(data);
    zero = PyLong_FromLong(0);
    if (zero == NULL)
        return NULL;
    while (pos < size) {
        Py_ssize_t end, start, stop, n = 0, hlen = 0;
        PyObject *known, *payload, *headers, *event;
        int hmsg;

        end = find_crlf(d, pos, size, max_line + 2);
        if (end < 0)
            break;
        if (end - pos >= 4 && memcmp(d + pos, "MSG ", 4) == 0) {
            hmsg = 0;
            known = msg_line(lines, d + pos + 4, end - pos - 4, max_payload, &n);
        } else if (end - pos >= 5 && memcmp(d + pos, "HMSG ", 5) == 0) {
            token t[MAX_TOKENS];
            int count = split_tokens(d + pos + 5, d + end, t);
            hmsg = 1;
            known = NULL;
            if (count == 4 || count == 5) {
                token h = t[count - 2];
                t[count - 2] = t[count - 1];
                known = line_tuple(t, count - 1, max_payload, &n);
                hlen = digits(&h);
                if (known != NULL && (hlen < 0 || hlen > n))
                    Py_CLEAR(known);
            }
        } else {
            break;
        }
        if (known == NULL) {
            if (PyErr_Occurred())
                goto fail;
            break;
        }
        start = end + 2;
        stop = start + n;
        if (stop + 2 > size || d[stop] != '\r' || d[stop + 1] != '\n') {
            Py_DECREF(known);
            break;
        }
        if (hmsg) {
            PyObject *block = PyBytes_FromStringAndSize(d + start, hlen);
            payload = PyBytes_FromStringAndSize(d + start + hlen, n - hlen);
            headers = block == NULL || payload == NULL
                ? NULL : PyObject_CallOneArg(parse_headers, block);
            Py_XDECREF(block);
        } else {
            payload = PyBytes_FromStringAndSize(d + start, n);
            headers = Py_None;
            Py_INCREF(headers);
        }
        if (payload == NULL || headers == NULL) {
            Py_XDECREF(payload);
            Py_XDECREF(headers);
            Py_DECREF(known);
            goto fail;
        }
        event = PyTuple_New(6);
        if (event == NULL) {
            Py_DECREF(payload);
            Py_DECREF(headers);
            Py_DECREF(known);
            goto fail;
        }
        Py_INCREF(zero);
        PyTuple_SET_ITEM(event, 0, zero);
        for (int i = 0; i < 3; i++) {
            PyObject *item = PyTuple_GET_ITEM(known, i);
            Py_INCREF(item);
            PyTuple_SET_ITEM(event, i + 1, item);
        }
        PyTuple_SET_ITEM(event, 4, payload);
        PyTuple_SET_ITEM(event, 5, headers);
        Py_DECREF(known);
        if (PyList_Append(events, event) < 0) {
            Py_DECREF(event);
            goto fail;
        }
        Py_DECREF(event);
        pos = stop + 2;
    }
    Py_DECREF(zero);
    return PyLong_FromSsize_t(pos);
fail:
    Py_DECREF(zero);
    return NULL;
}

/* Decimal digits of a non-negative size. */
static int
decimal_len(Py_ssize_t v)
{
    int n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Write v in decimal at p (exactly `len` digits); return the end. */
static char *
put_decimal(char *p, Py_ssize_t v, int len)
{
    char *end = p + len;
    char *q = end;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

static char *
put_bytes(char *p, const char *src, Py_ssize_t len)
{
    memcpy(p, src, (size_t)len);
    return p + len;
}

/* encode_pub(subject, payload, reply=b"", headers=None): the PUB or HPUB frame, as
 * protocol.encode_pub builds it with bytes formatting (one allocation here). */
static PyObject *
encode_pub(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 2 || nargs > 4) {
        PyErr_SetString(PyExc_TypeError,
                        "encode_pub() takes from 2 to 4 positional arguments");
        return NULL;
    }
    PyObject *subject = args[0], *payload = args[1];
    PyObject *reply = nargs > 2 ? args[2] : NULL;
    PyObject *headers = nargs > 3 && args[3] != Py_None ? args[3] : NULL;
    if (!PyBytes_Check(subject) || !PyBytes_Check(payload) ||
        (reply != NULL && !PyBytes_Check(reply)) ||
        (headers != NULL && !PyBytes_Check(headers))) {
        PyErr_SetString(PyExc_TypeError, "encode_pub() takes bytes arguments");
        return NULL;
    }
    Py_ssize_t sl = PyBytes_GET_SIZE(subject), pl = PyBytes_GET_SIZE(payload);
    Py_ssize_t rl = reply != NULL ? PyBytes_GET_SIZE(reply) : 0;
    Py_ssize_t hl = headers != NULL ? PyBytes_GET_SIZE(headers) : 0;
    Py_ssize_t total = hl + pl;
    int total_digits = decimal_len(total);
    int hl_digits = headers != NULL ? decimal_len(hl) : 0;
    /* "PUB " or "HPUB ", subject, " reply", " hl", " total", CRLF, headers, payload, CRLF */
    Py_ssize_t size = (headers != NULL ? 5 : 4) + sl + (rl ? 1 + rl : 0) +
                      (headers != NULL ? 1 + hl_digits : 0) + 1 + total_digits + 2 +
                      hl + pl + 2;
    PyObject *frame = PyBytes_FromStringAndSize(NULL, size);
    if (frame == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(frame);
    if (headers != NULL)
        p = put_bytes(p, "HPUB ", 5);
    else
        p = put_bytes(p, "PUB ", 4);
    p = put_bytes(p, PyBytes_AS_STRING(subject), sl);
    if (rl) {
        *p++ = ' ';
        p = put_bytes(p, PyBytes_AS_STRING(reply), rl);
    }
    if (headers != NULL) {
        *p++ = ' ';
        p = put_decimal(p, hl, hl_digits);
    }
    *p++ = ' ';
    p = put_decimal(p, total, total_digits);
    *p++ = '\r';
    *p++ = '\n';
    if (headers != NULL)
        p = put_bytes(p, PyBytes_AS_STRING(headers), hl);
    p = put_bytes(p, PyBytes_AS_STRING(payload), pl);
    *p++ = '\r';
    *p++ = '\n';
    return frame;
}

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(data, pos, events, lines, max_line, max_payload, parse_headers) -> int\n\n"
     "Append the events of the well-formed MSG/HMSG frames from pos on; return where the "
     "Python parser goes on."},
    {"encode_pub", (PyCFunction)(void (*)(void))encode_pub, METH_FASTCALL,
     "encode_pub(subject, payload, reply=b'', headers=None) -> bytes\n\n"
     "The PUB frame, or HPUB with an encoded header block (as protocol.encode_pub)."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    return PyModule_AddIntConstant(module, "LINES_KEPT", LINES_KEPT);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, (void *)exec_module},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "natsync._speedups",
    "The parser's inner loop over MSG/HMSG frames in C (optional; protocol.py is the "
    "reference).",
    0,
    methods,
    slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&module_def);
}
