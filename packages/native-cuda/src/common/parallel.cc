#include "common/parallel.h"
#include <thread>

namespace sgi {
static int g_threads = 0;
int num_threads() {
  if (g_threads <= 0) {
    unsigned hw = std::thread::hardware_concurrency();
    g_threads = hw > 0 ? int(hw) : 1;
  }
  return g_threads;
}
void set_num_threads(int n) { g_threads = n > 0 ? n : 0; }
}  // namespace sgi
