/* Classification metrics: confusion matrix, overall / average accuracy, Cohen's kappa
   (the figures the HybridSN paper reports; OA is d2l's accuracy). */
#include <string.h>

#include "cnn.h"

cnn_status cnn_metrics_init(cnn_metrics *m, int classes)
{
    memset(m, 0, sizeof *m);
    if (classes < 1) return cnn_set_error(CNN_ERR_INVALID_ARG, "metrics: %d classes", classes);
    m->confusion = cnn_calloc((size_t)classes * (size_t)classes, sizeof *m->confusion);
    if (!m->confusion) return cnn_set_error(CNN_ERR_NOMEM, "metrics: out of memory");
    m->classes = classes;
    return CNN_OK;
}

void cnn_metrics_add(cnn_metrics *m, int truth, int predicted)
{
    if (truth < 0 || truth >= m->classes || predicted < 0 || predicted >= m->classes) return;
    m->confusion[(size_t)truth * m->classes + predicted]++;
    m->total++;
    if (truth == predicted) m->correct++;
}

double cnn_metrics_class_acc(const cnn_metrics *m, int c)
{
    int64_t row = 0;
    for (int j = 0; j < m->classes; j++) row += m->confusion[(size_t)c * m->classes + j];
    return row ? (double)m->confusion[(size_t)c * m->classes + c] / (double)row : -1.0;
}

void cnn_metrics_finish(cnn_metrics *m)
{
    int K = m->classes;
    m->overall_acc = m->total ? (double)m->correct / (double)m->total : 0.0;
    double sum = 0.0;
    int counted = 0;
    for (int c = 0; c < K; c++) {
        double a = cnn_metrics_class_acc(m, c);
        if (a >= 0) {
            sum += a;
            counted++;
        }
    }
    m->average_acc = counted ? sum / counted : 0.0;
    /* kappa = (p_o - p_e) / (1 - p_e), p_e = sum_c row_c * col_c / total^2 */
    double pe = 0.0, T = (double)m->total;
    for (int c = 0; c < K && T > 0; c++) {
        double row = 0, col = 0;
        for (int j = 0; j < K; j++) {
            row += (double)m->confusion[(size_t)c * K + j];
            col += (double)m->confusion[(size_t)j * K + c];
        }
        pe += row * col / (T * T);
    }
    m->kappa = (T > 0 && pe < 1.0) ? (m->overall_acc - pe) / (1.0 - pe) : 0.0;
}

void cnn_metrics_free(cnn_metrics *m)
{
    if (!m) return;
    cnn_free(m->confusion);
    m->confusion = NULL;
}
