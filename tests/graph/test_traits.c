/* graph/ plans from the traits ops declare in cnn_op_def, never from which op a node
   is (docs/architecture.md, "Fusion"): no source under src/graph names an op table
   (an identifier cnn_op_<name> other than the types cnn_op_def / cnn_op_desc), and
   the fusion traits are declared by the ops the passes rely on. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "testutil.h"

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Occurrences of cnn_op_<name> other than the allowed types in text (one line each
   into *where). */
static int op_names(const char *path, const char *text, char *where, size_t size)
{
    int found = 0;
    for (const char *p = strstr(text, "cnn_op_"); p; p = strstr(p + 1, "cnn_op_")) {
        if (p > text && ident_char(p[-1])) continue;
        size_t n = 7;
        while (ident_char(p[n]))
            n++;
        if ((n == 10 && !strncmp(p, "cnn_op_def", 10)) ||
            (n == 11 && !strncmp(p, "cnn_op_desc", 11)))
            continue;
        size_t len = strlen(where);
        snprintf(where + len, size - len, "%s: %.*s\n", path, (int)n, p);
        found++;
    }
    return found;
}

static void test_graph_names_no_op(void **state)
{
    (void)state;
    const char *src = getenv("CNN_SOURCE_DIR") ? getenv("CNN_SOURCE_DIR") : ".";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/src/graph", src);
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s (set CNN_SOURCE_DIR)", dir);
    static char where[8192];
    where[0] = '\0';
    int files = 0, found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l < 3 || (strcmp(e->d_name + l - 2, ".c") && strcmp(e->d_name + l - 2, ".h"))) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *text = malloc((size_t)sz + 1);
        assert_non_null(text);
        assert_int_equal(fread(text, 1, (size_t)sz, f), (size_t)sz);
        text[sz] = '\0';
        fclose(f);
        found += op_names(e->d_name, text, where, sizeof where);
        free(text);
        files++;
    }
    closedir(d);
    assert_true(files >= 4); /* graph.c, exec.c, fuse.c, graph_internal.h at least */
    if (found) fail_msg("src/graph names %d op table(s):\n%s", found, where);
}

/* The detector itself: it finds an op table's name and passes the two types. */
static void test_detector(void **state)
{
    (void)state;
    char where[256] = "";
    assert_int_equal(
        op_names("x.c", "const cnn_op_def *d; cnn_op_desc e; (cnn_op_def)", where, sizeof where),
        0);
    assert_int_equal(op_names("x.c", "if (v->op == &cnn_op_conv2d) return;", where, sizeof where),
                     1);
    assert_non_null(strstr(where, "cnn_op_conv2d"));
    assert_int_equal(op_names("x.c", "my_cnn_op_x cnn_op_define", where, sizeof where), 1);
}

/* The fusion traits, read through nodes the public builder made. */
static void test_declared_traits(void **state)
{
    (void)state;
    cnn_graph *g = cnn_graph_new();
    cnn_node *x = cnn_input(g, "x", 4, (int[]){1, 4, 5, 5});
    cnn_node *c = cnn_conv2d(g, x, 4, .kernel = 3, .padding = 1);
    cnn_node *c3 = cnn_conv3d(g, cnn_input(g, "v", 5, (int[]){1, 2, 3, 4, 4}), 2, .kernel = 1);
    cnn_node *bn = cnn_batchnorm2d(g, c);
    cnn_node *a = cnn_add(g, bn, x);
    cnn_node *r = cnn_activation_p(g, a, CNN_ACT_LEAKY_RELU, 0.2f, 0.0f);
    cnn_node *k = cnn_concat(g, 2, (cnn_node *[]){r, x});
    cnn_node *p = cnn_maxpool2d(g, k, .kernel = 2);
    TU_OK(cnn_graph_status(g));
    assert_true(c->op->takes_epilogue && c3->op->takes_epilogue);
    assert_int_equal(bn->op->epilogue_kind, CNN_EPI_AFFINE);
    assert_int_equal(a->op->epilogue_kind, CNN_EPI_ADD);
    assert_int_equal(r->op->epilogue_kind, CNN_EPI_ACT);
    assert_true(bn->op->epilogue_stage && a->op->epilogue_stage && r->op->epilogue_stage);
    assert_true(k->op->inputs_in_place);
    assert_false(p->op->takes_epilogue || p->op->epilogue_kind || p->op->inputs_in_place);
    /* the blocked layout traits (graph/layout.c plans from these alone) */
    cnn_node *gp = cnn_global_avgpool(g, p), *sh = cnn_channel_shuffle(g, k, 2);
    cnn_node *mc = cnn_mul_channel(g, p, gp), *fl = cnn_flatten(g, gp);
    TU_OK(cnn_graph_status(g));
    assert_int_equal(p->op->layout_trait(p), CNN_LAYOUT_SAME);
    assert_int_equal(r->op->layout_trait(r), CNN_LAYOUT_SAME);
    assert_int_equal(mc->op->layout_trait(mc), CNN_LAYOUT_SAME);
    assert_int_equal(gp->op->layout_trait(gp), CNN_LAYOUT_READS);
    assert_int_equal(k->op->layout_trait(k), CNN_LAYOUT_ANY);
    assert_int_equal(sh->op->layout_trait(sh), CNN_LAYOUT_ANY);
    assert_true(!fl->op->layout_trait && !c3->op->layout_trait);
    /* compiled in eval mode the chain conv -> bn -> add -> leaky relu is one epilogue */
    TU_OK(cnn_graph_compile(g, 1));
    cnn_graph_set_training(g, false);
    assert_non_null(c->fusion);
    assert_int_equal(c->fusion->n_links, 3);
    assert_ptr_equal(c->fusion->tail, r);
    assert_ptr_equal(bn->fused_into, c);
    assert_ptr_equal(a->fused_into, c);
    assert_ptr_equal(r->fused_into, c);
    cnn_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_names_no_op),
        cmocka_unit_test(test_detector),
        cmocka_unit_test(test_declared_traits),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
