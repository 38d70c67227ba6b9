/* cnn_safetensors_save against an independent writer: the same tensors (filled by the
   fixture formula) and metadata written by tools/fixtures/safetensors_writer.py must
   come out byte for byte identical, with tensors larger than the writer's 1024-float
   chunk (so a writer that loses its place between chunks differs in the data). Also
   cnn_graph_save_weights of a model whose weights span many chunks reads back equal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void tmp_path(char *buf, size_t size, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, size, "%s/cnn_stw_%ld_%s", base && *base ? base : "/tmp", (long)getpid(), name);
}

static void test_bytes_match_fixture_script(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int ndim, dims[4];
    } spec[] = {
        {"conv.weight", 4, {4, 3, 11, 11}}, {"big", 2, {3, 1030}},   {"exact", 1, {1024}},
        {"chunk_plus_one", 1, {1025}},      {"bn.running_var", 1, {5}}, {"scalar_like", 2, {1, 1}},
    };
    enum { N = sizeof spec / sizeof spec[0] };
    cnn_tensor t[N];
    cnn_named_tensor named[N];
    for (int i = 0; i < N; i++) {
        TU_OK(cnn_tensor_alloc(&t[i], spec[i].ndim, spec[i].dims));
        tu_formula_fill(spec[i].name, &t[i]);
        named[i] = (cnn_named_tensor){spec[i].name, &t[i]};
    }
    const char *meta[] = {"format", "pt", "note",
                          "quote \" backslash \\ tab \t newline \n ctrl \x01 end"};
    char out[256];
    tmp_path(out, sizeof out, "w.safetensors");
    TU_OK(cnn_safetensors_save(out, N, named, 2, meta));
    size_t na, nb;
    unsigned char *a = slurp(out, &na);
    unsigned char *b = slurp("tests/fixtures/safetensors_writer.safetensors", &nb);
    if (na != nb) fail_msg("C writer: %zu bytes, fixture script: %zu bytes", na, nb);
    for (size_t i = 0; i < na; i++)
        if (a[i] != b[i]) fail_msg("first difference at byte %zu of %zu (C 0x%02x, script 0x%02x)", i, na, a[i], b[i]);
    /* and the data really holds the big tensors (not, e.g., all zeros) */
    assert_true(na > 4 * (1452 + 3090 + 1024 + 1025));
    free(a);
    free(b);
    remove(out);
    for (int i = 0; i < N; i++) cnn_tensor_free(&t[i]);
}

/* A model's weights through save/load: every value back, in tensors of 1 to 36864
   floats. */
static void test_graph_weights_round_trip(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *in, *out;
    TU_OK(cnn_model_build(g, "lenet", &(cnn_model_opts){.batch = 1}, &in, &out));
    tu_formula_weights(g);
    char p[256];
    tmp_path(p, sizeof p, "lenet.safetensors");
    TU_OK(cnn_graph_save_weights(g, p, 0, NULL));
    cnn_graph *h = cnn_graph_new();
    TU_OK(cnn_model_build(h, "lenet", &(cnn_model_opts){.batch = 1}, &in, &out));
    TU_OK(cnn_graph_load_weights(h, p, true));
    size_t biggest = 0;
    for (int i = 0; i < cnn_graph_num_params(g); i++) {
        cnn_param *a = cnn_graph_param(g, i), *b = cnn_graph_param(h, i);
        size_t n = cnn_tensor_numel(&a->value);
        if (n > biggest) biggest = n;
        assert_string_equal(a->name, b->name);
        assert_memory_equal(a->value.data, b->value.data, n * sizeof(float));
    }
    assert_true(biggest > 4096);
    remove(p);
    cnn_graph_free(g);
    cnn_graph_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_match_fixture_script),
        cmocka_unit_test(test_graph_weights_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
