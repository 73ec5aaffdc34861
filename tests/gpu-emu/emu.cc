/* tests/gpu-emu/emu.cc - TEST ONLY: the runtime of tests/gpu-emu/emu.h. A
 * launch runs its blocks one after another; a block's items run at once on
 * threads of a pool (created on first use, kept for the program), each with
 * its own threadIdx/blockIdx, all meeting at one std::barrier per block.
 * An item that returns drops out of the barrier, so a divergent barrier
 * does not hang the test: the items' barrier counts are compared after the
 * block instead (kbit_emu_report). */
#include "emu.h"

#include <barrier>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

thread_local kbit_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;
unsigned kbit_emu_grid_cap;

namespace {

thread_local std::barrier<> *item_barrier; /* the block of the calling item */
thread_local unsigned item_barriers;       /* barriers it passed */

gpuError_t last_error;
std::string report;
unsigned long launches;

class Pool {
  public:
    ~Pool()
    {
        {
            std::lock_guard<std::mutex> lk(m);
            quit = true;
        }
        start.notify_all();
        for (auto &t : threads)
            t.join();
    }

    /* Runs block `block` of `groups` on `items` threads; the items'
     * barrier counts in counts[0 .. items). */
    void run_block(unsigned block, unsigned groups, unsigned items,
                   const std::function<void()> &item, std::vector<unsigned> &counts)
    {
        std::barrier<> sync(items);
        std::unique_lock<std::mutex> lk(m);
        while (threads.size() < items) {
            unsigned id = (unsigned)threads.size();
            threads.emplace_back([this, id] { work(id); });
        }
        job = &item;
        job_block = block;
        job_groups = groups;
        job_items = items;
        job_sync = &sync;
        job_counts = &counts;
        remaining = items;
        generation++;
        start.notify_all();
        done.wait(lk, [this] { return remaining == 0; });
    }

  private:
    void work(unsigned id)
    {
        unsigned long seen = 0;
        std::unique_lock<std::mutex> lk(m);
        for (;;) {
            start.wait(lk, [&] { return quit || generation != seen; });
            if (quit)
                return;
            seen = generation;
            if (id >= job_items)
                continue;
            const std::function<void()> *f = job;
            threadIdx = {id, 0, 0};
            blockIdx = {job_block, 0, 0};
            blockDim = {job_items, 1, 1};
            gridDim = {job_groups, 1, 1};
            item_barrier = job_sync;
            std::vector<unsigned> *counts = job_counts;
            lk.unlock();
            item_barriers = 0;
            (*f)();
            unsigned passed = item_barriers;
            item_barrier->arrive_and_drop();
            lk.lock();
            (*counts)[id] = passed;
            if (--remaining == 0)
                done.notify_one();
        }
    }

    std::mutex m;
    std::condition_variable start, done;
    std::vector<std::thread> threads;
    bool quit = false;
    unsigned long generation = 0;
    unsigned remaining = 0;
    const std::function<void()> *job = nullptr;
    unsigned job_block = 0, job_groups = 0, job_items = 0;
    std::barrier<> *job_sync = nullptr;
    std::vector<unsigned> *job_counts = nullptr;
};

Pool &pool()
{
    static Pool p;
    return p;
}

} // namespace

void kbit_emu_syncthreads()
{
    item_barriers++;
    item_barrier->arrive_and_wait();
}

gpuError_t gpuGetLastError()
{
    gpuError_t e = last_error;
    last_error = gpuSuccess;
    return e;
}

void kbit_emu_launch(unsigned groups, unsigned items, gpuStream_t stream,
                     const std::function<void()> &item)
{
    (void)stream; /* launches are synchronous here */
    launches++;
    if (groups == 0 || items == 0 || items > 1024) {
        last_error = 1; /* cudaErrorInvalidConfiguration */
        return;
    }
    const unsigned run = kbit_emu_grid_cap != 0 && kbit_emu_grid_cap < groups ? kbit_emu_grid_cap
                                                                               : groups;
    std::vector<unsigned> counts(items);
    for (unsigned b = 0; b < run; b++) {
        pool().run_block(b, run, items, item, counts);
        for (unsigned i = 1; i < items; i++) {
            if (counts[i] != counts[0]) {
                char line[160];
                snprintf(line, sizeof line,
                         "launch %lu, block %u: item 0 passed %u barriers, item %u %u "
                         "(a divergent barrier)\n",
                         launches, b, counts[0], i, counts[i]);
                report += line;
                last_error = 1;
                break;
            }
        }
    }
}

const char *kbit_emu_report()
{
    return report.c_str();
}
