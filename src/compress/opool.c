/* opool.c - ordered worker pool (see opool.h). */
#include "compress/opool.h"
#include "util/err.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdint.h>

enum slot_state { SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
	void *job;
	enum slot_state state;
};

struct opool_thread {
	struct opool *p;
	unsigned index;
	pthread_t tid;
};

struct opool {
	opool_run_fn run;
	void *arg;
	pthread_mutex_t mu;
	pthread_cond_t work; /* a job was queued, or quit */
	pthread_cond_t done; /* a job finished */
	struct slot *ring;
	unsigned window;
	/* sequence numbers: head <= next <= tail, tail - head <= window */
	uint64_t head; /* oldest uncollected */
	uint64_t next; /* next to start */
	uint64_t tail; /* next to submit */
	int quit;
	struct opool_thread *threads;
	unsigned nthreads;
};

static void *worker_main(void *v)
{
	struct opool_thread *t = v;
	struct opool *p = t->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct slot *s;

		while (!p->quit && p->next == p->tail)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit)
			break;
		s = &p->ring[p->next++ % p->window];
		s->state = SLOT_RUNNING;
		pthread_mutex_unlock(&p->mu);
		p->run(p->arg, t->index, s->job);
		pthread_mutex_lock(&p->mu);
		s->state = SLOT_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct opool *opool_new(unsigned workers, unsigned window, opool_run_fn run,
			void *arg)
{
	struct opool *p = xcalloc(1, sizeof(*p));
	unsigned i;

	if (!window)
		BUG("opool window 0");
	p->run = run;
	p->arg = arg;
	p->window = window;
	p->ring = xcalloc(window, sizeof(*p->ring));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = xcalloc(workers ? workers : 1, sizeof(*p->threads));
	for (i = 0; i < workers; i++) {
		struct opool_thread *t = &p->threads[p->nthreads];

		t->p = p;
		t->index = p->nthreads;
		if (pthread_create(&t->tid, NULL, worker_main, t))
			break; /* run with the threads we got, or inline */
		p->nthreads++;
	}
	return p;
}

unsigned opool_workers(const struct opool *p)
{
	return p->nthreads ? p->nthreads : 1;
}

unsigned opool_pending(const struct opool *p)
{
	return (unsigned)(p->tail - p->head);
}

void opool_submit(struct opool *p, void *job)
{
	struct slot *s;

	if (p->tail - p->head >= p->window)
		BUG("opool_submit on a full window");
	s = &p->ring[p->tail % p->window];
	s->job = job;
	if (!p->nthreads) {
		p->run(p->arg, 0, job);
		s->state = SLOT_DONE;
		p->tail++;
		p->next = p->tail;
		return;
	}
	pthread_mutex_lock(&p->mu);
	s->state = SLOT_QUEUED;
	p->tail++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void *opool_collect(struct opool *p, int wait)
{
	struct slot *s;
	void *job = NULL;

	if (p->head == p->tail)
		return NULL;
	s = &p->ring[p->head % p->window];
	pthread_mutex_lock(&p->mu);
	while (wait && s->state != SLOT_DONE)
		pthread_cond_wait(&p->done, &p->mu);
	if (s->state == SLOT_DONE) {
		job = s->job;
		s->job = NULL;
		p->head++;
	}
	pthread_mutex_unlock(&p->mu);
	return job;
}

void opool_free(struct opool *p, void (*drop)(void *job))
{
	unsigned i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i].tid, NULL);
	/* workers are gone: every uncollected job is either done or was
	 * never started */
	for (; p->head < p->tail; p->head++) {
		struct slot *s = &p->ring[p->head % p->window];

		if (drop)
			drop(s->job);
	}
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p->ring);
	free(p);
}
